"""The file side of the serving shell: atomic writes of only what changed, and waiting for cert-manager's files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from otel_operator.admission import serving


def test_write_files_writes_only_what_changed_with_mode_0600(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    assert serving.write_files(folder, {"ca.crt": b"A", "tls.key": b"K", "tls.crt": b"C"}) == [
        "ca.crt",
        "tls.key",
        "tls.crt",
    ]
    inodes = {p.name: p.stat().st_ino for p in folder.iterdir()}
    assert serving.write_files(folder, {"ca.crt": b"A", "tls.key": b"K2", "tls.crt": b"C2"}) == ["tls.key", "tls.crt"]
    assert sorted(p.name for p in folder.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]  # no temporary files left
    assert (folder / "ca.crt").stat().st_ino == inodes["ca.crt"]  # untouched
    assert (folder / "tls.crt").stat().st_ino != inodes["tls.crt"]  # replaced by a rename, not written in place
    assert {p.name: (p.read_bytes(), p.stat().st_mode & 0o777) for p in folder.iterdir()} == {
        "ca.crt": (b"A", 0o600),
        "tls.key": (b"K2", 0o600),
        "tls.crt": (b"C2", 0o600),
    }
    assert serving.write_files(folder, {"ca.crt": b"A", "tls.key": b"K2", "tls.crt": b"C2"}) == []


async def test_wait_for_files_returns_once_both_files_are_there(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_bytes(b"C")
    (tmp_path / "tls.key").write_bytes(b"")  # a Secret volume being filled: empty is not there yet

    async def mount() -> None:
        await asyncio.sleep(0.2)
        (tmp_path / "tls.key").write_bytes(b"K")

    writer = asyncio.create_task(mount())
    await serving.wait_for_files(tmp_path, 5, secret_name="otel-operator-webhook-cert", poll=0.05)
    assert writer.done()


async def test_wait_for_files_names_the_directory_and_the_secret(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_bytes(b"C")
    with pytest.raises(serving.CertificateFilesMissing) as caught:
        await serving.wait_for_files(tmp_path, 0.2, secret_name="my-release-webhook-cert", poll=0.05)
    assert str(caught.value) == (
        f"no webhook serving certificate in {tmp_path} after 0.2s (tls.key missing): cert-manager writes them into "
        "the Secret my-release-webhook-cert, mounted there; check that its Certificate is Ready and that the Secret "
        "is mounted at that path"
    )
