"""The pure parts of the upstream-e2e runner's real-node environment (hack/chainsaw.py --real-node): the volumes the
hostPath provisioner makes for claims, the registry mirror containerd reads, the timeout caps on the copied tests,
and the metrics app that stands in for upstream's basic-auth image."""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import chainsaw
import e2e_images
import e2e_provisioner
from upstream_e2e_apps import metrics_basic_auth


def claim(phase: str = "Pending", cls: str | None = "standard", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "testvolume-stateful-collector-0", "namespace": "ns1", "uid": "u-1"},
        "spec": {"storageClassName": cls, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}, **spec},
        "status": {"phase": phase},
    }  # fmt: skip


def test_a_pending_claim_of_the_default_class_gets_a_volume_bound_to_it(tmp_path: Path) -> None:
    volume = e2e_provisioner.volume_for(claim(), tmp_path)
    assert volume is not None
    assert volume["spec"]["claimRef"] == {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "ns1",
                                          "name": "testvolume-stateful-collector-0", "uid": "u-1"}  # fmt: skip
    assert volume["spec"]["capacity"] == {"storage": "1Gi"}
    assert volume["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert volume["spec"]["storageClassName"] == "standard"
    assert volume["spec"]["hostPath"]["path"] == str(tmp_path / "pvc-u-1")
    assert volume["metadata"]["labels"] == {e2e_provisioner.MANAGED: "true"}


@pytest.mark.parametrize(
    "other",
    [claim(phase="Bound"), claim(cls="fast"), claim(cls=None), claim(volumeName="pv-elsewhere")],
    ids=["bound", "another class", "no class", "volume named"],
)
def test_claims_that_are_not_ours_or_not_pending_get_nothing(other: dict[str, Any], tmp_path: Path) -> None:
    assert e2e_provisioner.volume_for(other, tmp_path) is None


def test_the_storage_class_is_the_default_one_kind_names_standard() -> None:
    sc = e2e_provisioner.storage_class()
    assert sc["metadata"]["name"] == "standard"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["provisioner"] == e2e_provisioner.PROVISIONER


def test_the_registry_mirror_covers_every_image_registry_with_no_way_out(tmp_path: Path) -> None:
    registry = e2e_images.Registry(tmp_path / "registry")
    registry.mirror(tmp_path / "certs.d")
    hosts = sorted(p.name for p in (tmp_path / "certs.d").iterdir())
    assert hosts == sorted({image.split("/", 1)[0] for image in e2e_images.images()})
    assert "mirror.gcr.io" in hosts
    assert "ghcr.io" in hosts
    for host in hosts:
        text = (tmp_path / "certs.d" / host / "hosts.toml").read_text()
        servers = [line for line in text.splitlines() if "http" in line]
        assert servers, text
        assert all(f"http://127.0.0.1:{registry.port}" in line for line in servers), text  # loopback only


def test_the_images_carry_the_names_the_tests_give() -> None:
    names = set(e2e_images.images())
    # every image upstream's in-scope container tests name is one built here
    for image in ("mirror.gcr.io/alpine/curl:latest", "mirror.gcr.io/library/busybox:latest",
                  "ghcr.io/open-telemetry/opentelemetry-operator/e2e-test-app-metrics-basic-auth:main",
                  "ghcr.io/open-telemetry/opentelemetry-collector-contrib/telemetrygen:v0.124.1"):  # fmt: skip
        assert image in names
    assert e2e_images.COLLECTOR.endswith(":0.158.0")


@pytest.mark.parametrize(("cap", "expected"), [(1, "1m"), (3, "3m")])
def test_explicit_timeouts_are_capped_and_bash_shells_dropped(cap: int, expected: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "chainsaw-test.yaml").write_text(
        "spec:\n  steps:\n  - try:\n    - script:\n        shell: /bin/bash\n        timeout: 5m\n"
        "        content: echo\n    - assert:\n        timeout: 1m\n"
    )
    text = (chainsaw.capped_copy(src, tmp_path / "dst", cap) / "chainsaw-test.yaml").read_text()
    assert f"timeout: {expected}\n" in text
    assert "timeout: 1m\n" in text
    assert "shell:" not in text
    assert "timeout: 5m" in (src / "chainsaw-test.yaml").read_text()  # the pristine copy is untouched


@pytest.fixture
def app_url() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), metrics_basic_auth.Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url: str, user: str | None = None, password: str = "") -> tuple[int, bytes, str]:
    request = urllib.request.Request(url)
    if user is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), ""
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("WWW-Authenticate", "")


def test_the_basic_auth_app_serves_its_gauge_only_to_the_tests_credentials(app_url: str) -> None:
    code, body, _ = get(f"{app_url}/metrics", "user", "t0p$ecreT")
    assert code == 200
    assert b"\nauthenticated 1.0\n" in body
    assert b"# TYPE authenticated gauge" in body
    for user, password in (("user", "wrong"), ("other", "t0p$ecreT")):
        code, _, challenge = get(f"{app_url}/metrics", user, password)
        assert (code, challenge) == (401, 'Basic realm="Login Required"')
    code, _, challenge = get(f"{app_url}/metrics")
    assert (code, challenge) == (401, 'Basic realm="Login Required"')
    assert get(f"{app_url}/other", "user", "t0p$ecreT")[0] == 404
