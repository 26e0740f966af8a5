"""The operator's own mTLS certificates, planned: issued when missing, left alone while valid, rotated before they
end (the leaf alone when only the leaf is due, everything with a bundled CA when the CA is), repaired when unusable.
The clock is an argument: certificates issued "a year ago" are issued with last year's `now`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from otel_operator.admission import certs
from otel_operator.manifests import BuildOptions
from otel_operator.manifests.mtls import MTLS_LABEL, issued_certificates
from otel_operator.reconcile.desired import owned
from otel_operator.reconcile.kube import KubeError
from otel_operator.reconcile.mtls import (
    Write,
    ensure,
    has_usage,
    issue_client,
    metadata_drifted,
    plan_secrets,
    secret_manifest,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
COLLECTOR = {
    "apiVersion": "opentelemetry.io/v1beta1",
    "kind": "OpenTelemetryCollector",
    "metadata": {"name": "c", "namespace": "ns", "uid": "u-1"},
    "spec": {"mode": "statefulset", "targetAllocator": {"enabled": True, "mtls": {"enabled": True}}},
}
WANT = issued_certificates(COLLECTOR, BuildOptions(apis=frozenset()))
assert WANT is not None
Live = dict[str, dict[str, Any] | None]


def as_live(writes: list[Write], live: Live | None = None) -> Live:
    out: Live = dict(live or {})
    for w in writes:
        out[w.secret.name] = {"data": certs.encode_secret_data(w.files)}
    return out


def fresh(at: datetime = NOW) -> Live:
    return as_live(plan_secrets(WANT, {}, at))


def files(live: Live, name: str) -> dict[str, bytes]:
    secret = live[name]
    assert secret is not None
    return certs.decode_secret_data(secret["data"])


def cert(pem: bytes) -> x509.Certificate:
    return certs.load_certs(pem)[0]


def test_nothing_there_issues_all_three() -> None:
    writes = plan_secrets(WANT, {}, NOW)
    assert [(w.secret.name, w.reason) for w in writes] == [
        ("c-ca-cert", "new CA: missing"),
        ("c-ta-server-cert", "new CA: missing"),
        ("c-ta-client-cert", "new CA: missing"),
    ]
    live = as_live(writes)
    ca = files(live, "c-ca-cert")
    assert sorted(ca) == ["ca.crt", "ca.key"]
    for name, usage in (("c-ta-server-cert", ExtendedKeyUsageOID.SERVER_AUTH), ("c-ta-client-cert", "client")):
        leaf = files(live, name)
        assert sorted(leaf) == ["ca.crt", "tls.crt", "tls.key"]  # never the CA's key in a pod's volume
        assert leaf["ca.crt"] == ca["ca.crt"]
        cert(leaf["tls.crt"]).verify_directly_issued_by(cert(ca["ca.crt"]))
        if usage == "client":
            assert has_usage(leaf["tls.crt"], ExtendedKeyUsageOID.CLIENT_AUTH)
            assert not has_usage(leaf["tls.crt"], ExtendedKeyUsageOID.SERVER_AUTH)
        else:
            assert has_usage(leaf["tls.crt"], usage)
    assert certs.sans_of(files(live, "c-ta-server-cert")["tls.crt"]) == sorted(WANT.server.dns_names)
    assert certs.sans_of(files(live, "c-ta-client-cert")["tls.crt"]) == sorted(WANT.client.dns_names)


def test_valid_secrets_are_not_rewritten() -> None:
    live = fresh()
    assert plan_secrets(WANT, live, NOW) == []
    assert plan_secrets(WANT, live, NOW + timedelta(days=300)) == []  # still > 30 days left


def _issue_old_leaf(live: Live, name: str, *, client: bool) -> Live:
    ca_files = files(live, "c-ca-cert")
    ca = certs.KeyPair(ca_files["ca.crt"], ca_files["ca.key"])
    issued_at = NOW - timedelta(days=400)
    pair = (
        issue_client(ca, WANT.client.dns_names, issued_at)
        if client
        else certs.issue_leaf(ca, WANT.server.dns_names, issued_at)
    )
    data = {"ca.crt": ca_files["ca.crt"], "tls.crt": pair.cert_pem, "tls.key": pair.key_pem}
    return {**live, name: {"data": certs.encode_secret_data(data)}}


def _server_as_client(live: Live) -> Live:
    server = live["c-ta-server-cert"]
    return {**live, "c-ta-client-cert": dict(server or {})}  # a serving certificate cannot authenticate a client


def _ca_expiring(live: Live) -> Live:
    old = certs.issue_ca(NOW - timedelta(days=3640))  # ten years ago, 4 days left: within the 30-day margin
    return {**live, "c-ca-cert": {"data": certs.encode_secret_data({"ca.crt": old.cert_pem, "ca.key": old.key_pem})}}


def _ca_gone(live: Live) -> Live:
    return {k: v for k, v in live.items() if k != "c-ca-cert"}


def _bundle_edited(live: Live) -> Live:
    client = files(live, "c-ta-client-cert")
    client["ca.crt"] = certs.issue_ca(NOW).cert_pem
    return {**live, "c-ta-client-cert": {"data": certs.encode_secret_data(client)}}


CASES: list[tuple[str, Callable[[Live], Live], list[str], bool]] = [
    # (what happened, change, Secrets rewritten, new CA)
    (
        "server expired",
        lambda live: _issue_old_leaf(live, "c-ta-server-cert", client=False),
        ["c-ta-server-cert"],
        False,
    ),
    (
        "client expired",
        lambda live: _issue_old_leaf(live, "c-ta-client-cert", client=True),
        ["c-ta-client-cert"],
        False,
    ),
    ("client deleted", lambda live: {**live, "c-ta-client-cert": None}, ["c-ta-client-cert"], False),
    ("client is a serving certificate", _server_as_client, ["c-ta-client-cert"], False),
    ("client's CA bundle edited", _bundle_edited, ["c-ta-client-cert"], False),
    ("CA about to expire", _ca_expiring, ["c-ca-cert", "c-ta-server-cert", "c-ta-client-cert"], True),
    ("CA deleted", _ca_gone, ["c-ca-cert", "c-ta-server-cert", "c-ta-client-cert"], True),
]


@pytest.mark.parametrize(("what", "change", "rewritten", "new_ca"), CASES, ids=[c[0] for c in CASES])
def test_what_is_rotated(what: str, change: Callable[[Live], Live], rewritten: list[str], new_ca: bool) -> None:
    before = change(fresh())
    writes = plan_secrets(WANT, before, NOW)
    assert [w.secret.name for w in writes] == rewritten, [w.reason for w in writes]
    after = as_live(writes, before)
    assert plan_secrets(WANT, after, NOW) == []  # settled: the next reconcile writes nothing
    ca_pem = files(after, "c-ca-cert")["ca.crt"]
    for leaf in ("c-ta-server-cert", "c-ta-client-cert"):
        leaf_files = files(after, leaf)
        assert leaf_files["ca.crt"] == ca_pem
        cert(leaf_files["tls.crt"]).verify_directly_issued_by(cert(ca_pem))
    before_ca = (before.get("c-ca-cert") or {}).get("data")
    assert (before_ca != (after["c-ca-cert"] or {}).get("data")) == new_ca


def test_a_replaced_ca_is_bundled_with_its_still_valid_predecessor() -> None:
    before = _ca_expiring(fresh())
    old_ca = files(before, "c-ca-cert")["ca.crt"]
    after = as_live(plan_secrets(WANT, before, NOW), before)
    bundle = certs.load_certs(files(after, "c-ca-cert")["ca.crt"])
    assert len(bundle) == 2
    assert bundle[1] == cert(old_ca)  # clients and servers still on the old files keep being trusted


def test_a_bundle_fix_keeps_the_certificate_and_key() -> None:
    before = _bundle_edited(fresh())
    [write] = plan_secrets(WANT, before, NOW)
    assert write.reason == "CA bundle"
    old = files(before, "c-ta-client-cert")
    assert (write.files["tls.crt"], write.files["tls.key"]) == (old["tls.crt"], old["tls.key"])


def _manifest(role: str) -> dict[str, Any]:
    secret = next(s for s in WANT.secrets if s.role == role)
    return owned(secret_manifest(WANT, secret, {"ca.crt": b"x"}), COLLECTOR)


@pytest.mark.parametrize(
    ("role", "kind"), [("ca", "Opaque"), ("server", "kubernetes.io/tls"), ("client", "kubernetes.io/tls")]
)
def test_secret_manifest(role: str, kind: str) -> None:
    obj = _manifest(role)
    assert obj["type"] == kind
    assert obj["metadata"]["labels"][MTLS_LABEL] == role
    assert obj["metadata"]["labels"]["otel-operator.opentelemetry.io/owner-uid"] == "u-1"
    assert obj["metadata"]["ownerReferences"][0]["uid"] == "u-1"  # collected with the collector


def _relabelled(live: Mapping[str, Any]) -> dict[str, Any]:
    meta = dict(live["metadata"])
    meta["labels"] = {k: v for k, v in meta["labels"].items() if k != MTLS_LABEL}
    return {**live, "metadata": meta}


@pytest.mark.parametrize(
    ("live", "drifted"),
    [
        (_manifest("server"), False),
        ({**_manifest("server"), "data": {"other": "eA=="}}, False),  # the data is not metadata's business
        (_relabelled(_manifest("server")), True),
        ({**_manifest("server"), "metadata": {**_manifest("server")["metadata"], "ownerReferences": []}}, True),
        ({**_manifest("server"), "type": "Opaque"}, True),
    ],
)
def test_metadata_drift(live: dict[str, Any], drifted: bool) -> None:
    assert metadata_drifted(live, _manifest("server")) == drifted


class FakeKube:
    """The calls `ensure` makes, against an in-memory namespace of Secrets."""

    def __init__(self, secrets: dict[str, dict[str, Any]] | None = None, list_status: int | None = None) -> None:
        self.secrets = dict(secrets or {})
        self.list_status = list_status
        self.calls: list[tuple[str, str]] = []

    async def get(self, path: str) -> dict[str, Any] | None:
        return self.secrets.get(path.rsplit("/", 1)[1])

    async def list(self, path: str, selector: str) -> list[dict[str, Any]]:
        if self.list_status is not None:
            raise KubeError(self.list_status, "GET", path, "forbidden")
        return [s for s in self.secrets.values() if s["metadata"].get("labels", {}).get(MTLS_LABEL)]

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        name = path.rsplit("/", 1)[1]
        self.calls.append((method, name))
        if method == "PATCH":
            self.secrets[name] = kwargs["body"]
        elif method == "DELETE":
            self.secrets.pop(name, None)
        return None


async def test_ensure_issues_then_leaves_alone_then_prunes() -> None:
    kube = FakeKube()
    written = await ensure(kube, COLLECTOR, WANT, now=NOW)  # type: ignore[arg-type]
    assert written == ["wrote c-ca-cert", "wrote c-ta-server-cert", "wrote c-ta-client-cert"]
    kube.calls.clear()
    assert await ensure(kube, COLLECTOR, WANT, now=NOW) == []  # type: ignore[arg-type]
    assert kube.calls == []  # not one write
    assert await ensure(kube, COLLECTOR, None, now=NOW) == [  # type: ignore[arg-type]
        "deleted c-ca-cert",
        "deleted c-ta-server-cert",
        "deleted c-ta-client-cert",
    ]
    assert kube.secrets == {}


@pytest.mark.parametrize(("want", "raises"), [(None, False), (WANT, True)])
async def test_an_operator_that_may_not_list_secrets(want: Any, raises: bool) -> None:
    kube = FakeKube(list_status=403)
    if raises:  # mTLS asked for: the missing permission must surface
        with pytest.raises(KubeError):
            await ensure(kube, COLLECTOR, want, now=NOW)  # type: ignore[arg-type]
    else:  # no mTLS: nothing of ours can be there, and the reconcile goes on
        assert await ensure(kube, COLLECTOR, want, now=NOW) == []  # type: ignore[arg-type]
