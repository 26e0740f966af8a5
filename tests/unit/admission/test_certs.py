"""The webhooks' CA and serving certificate: what is issued, and every decision `plan` makes over Secret data."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from otel_operator.admission import certs

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
SANS = [*certs.service_sans("otel-operator-webhook", "otel"), "127.0.0.1"]


def cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def verify(ca_pem: bytes, leaf_pem: bytes, name: str, at: datetime = NOW) -> None:
    """Full path validation as a TLS client would do it (RFC 5280 / web PKI rules): issuer, SAN, EKU, validity."""
    subject = x509.IPAddress(ipaddress.ip_address(name)) if name[0].isdigit() else x509.DNSName(name)
    store = Store(certs.load_certs(ca_pem))
    PolicyBuilder().store(store).time(at).build_server_verifier(subject).verify(cert(leaf_pem), [])


@pytest.fixture(scope="module")
def good() -> dict[str, str]:
    """A fresh Secret's data, as the API returns it (base64)."""
    return certs.encode_secret_data(certs.renew(certs.Decision("ca", "missing"), None, SANS, NOW))


def files_of(data: dict[str, str]) -> dict[str, bytes]:
    return certs.decode_secret_data(data)


# --- issuing ---


def test_the_ca_is_a_self_signed_ca_that_signs_certificates() -> None:
    ca = certs.issue_ca(NOW)
    c = cert(ca.cert_pem)
    assert c.subject == c.issuer
    c.verify_directly_issued_by(c)
    constraints = c.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = c.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert c.not_valid_after_utc == NOW + certs.CA_VALIDITY
    assert c.not_valid_before_utc < NOW  # backdated for clock skew


def test_the_serving_certificate_verifies_against_its_ca_for_every_san() -> None:
    ca = certs.issue_ca(NOW)
    leaf = certs.issue_leaf(ca, SANS, NOW)
    for name in SANS:
        verify(ca.cert_pem, leaf.cert_pem, name)
    with pytest.raises(VerificationError):
        verify(ca.cert_pem, leaf.cert_pem, "other.otel.svc")
    with pytest.raises(VerificationError):  # another CA
        verify(certs.issue_ca(NOW).cert_pem, leaf.cert_pem, SANS[2])
    with pytest.raises(VerificationError):  # expired
        verify(ca.cert_pem, leaf.cert_pem, SANS[2], at=NOW + certs.LEAF_VALIDITY + timedelta(days=1))


def test_the_serving_certificate_is_a_server_leaf_with_dns_and_ip_sans() -> None:
    ca = certs.issue_ca(NOW)
    c = cert(certs.issue_leaf(ca, ["Svc.NS.svc", "10.0.0.1", "::1", "svc"], NOW).cert_pem)
    assert not c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert list(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == ["svc", "svc.ns.svc"]
    assert sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) == ["10.0.0.1", "::1"]
    assert c.not_valid_after_utc == NOW + certs.LEAF_VALIDITY
    assert certs.sans_of(certs.issue_leaf(ca, ["B.example", "a.example", "a.example"], NOW).cert_pem) == [
        "a.example",
        "b.example",
    ]


def test_the_serving_certificate_never_outlives_its_ca() -> None:
    ca = certs.issue_ca(NOW, validity=timedelta(days=10))
    leaf = certs.issue_leaf(ca, SANS, NOW, validity=timedelta(days=365))
    assert certs.not_after(leaf.cert_pem) == certs.not_after(ca.cert_pem)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: certs.issue_ca(datetime(2030, 1, 1)), "timezone-aware"),
        (lambda: certs.issue_leaf(certs.issue_ca(NOW), [], NOW), "at least one"),
        (lambda: certs.issue_leaf(certs.issue_ca(NOW), [" "], NOW), "must not be empty"),
    ],
)
def test_bad_arguments_are_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_the_secret_manifest_is_a_tls_secret_with_the_ca_key() -> None:
    files = {"tls.crt": b"C", "tls.key": b"K", "ca.crt": b"A", "ca.key": b"B"}
    manifest = certs.secret_manifest("webhook-cert", "otel", files)
    assert manifest["type"] == "kubernetes.io/tls"
    assert manifest["metadata"] == {
        "name": "webhook-cert",
        "namespace": "otel",
        "labels": {"app.kubernetes.io/managed-by": "opentelemetry-operator", "app.kubernetes.io/component": "webhook"},
    }
    assert {k: base64.b64decode(v) for k, v in manifest["data"].items()} == files


# --- plan ---


def with_(data: dict[str, str], **changes: bytes | str | None) -> dict[str, str]:
    """`data` with keys replaced (bytes are encoded, str taken as is) or removed (None); `tls_crt` for tls.crt."""
    out = dict(data)
    for key, value in changes.items():
        name = key.replace("_", ".")
        if value is None:
            out.pop(name, None)
        else:
            out[name] = base64.b64encode(value).decode() if isinstance(value, bytes) else value
    return out


def other_leaf(
    data: dict[str, str], sans: list[str] = SANS, validity: timedelta = certs.LEAF_VALIDITY, issued: datetime = NOW
) -> dict[str, str]:
    """`data` with its serving certificate re-issued by its own CA for other SANs, another validity or date."""
    files = files_of(data)
    leaf = certs.issue_leaf(certs.KeyPair(files["ca.crt"], files["ca.key"]), sans, issued, validity)
    return with_(data, tls_crt=leaf.cert_pem, tls_key=leaf.key_pem)


CASES: list[tuple[str, Callable[[dict[str, str]], dict[str, Any] | None], str, str]] = [
    ("no secret", lambda d: None, "ca", "missing"),
    ("empty data", lambda d: {}, "ca", "missing"),
    ("not base64", lambda d: with_(d, ca_crt="%%%not base64%%%"), "ca", "unreadable: ca.crt is not valid base64"),
    ("not a string", lambda d: {**d, "ca.crt": 5}, "ca", "unreadable: ca.crt is not a base64 string"),
    ("garbage CA", lambda d: with_(d, ca_crt=b"garbage"), "ca", "unreadable: "),
    ("no CA key", lambda d: with_(d, ca_key=None), "ca", "unreadable: no ca.key"),
    ("no CA at all", lambda d: with_(d, ca_crt=None, ca_key=None), "ca", "unreadable: no ca.crt, ca.key"),
    ("garbage CA key", lambda d: with_(d, ca_key=b"-----BEGIN PRIVATE KEY-----\nAAAA\n"), "ca", "unreadable: "),
    (
        "CA key of another CA",
        lambda d: with_(d, ca_key=certs.issue_ca(NOW).key_pem),
        "ca",
        "unreadable: ca.key does not belong to ca.crt",
    ),
    (
        "a leaf where the CA should be",
        lambda d: with_(d, ca_crt=files_of(d)["tls.crt"], ca_key=files_of(d)["tls.key"]),
        "ca",
        "unreadable: the first certificate of ca.crt is not a CA",
    ),
    ("CA expiring", lambda d: d, "ca", "CA expires in 20 days"),  # checked at CA end - 20 days, below
    ("no serving certificate", lambda d: with_(d, tls_crt=None), "leaf", "unreadable: no tls.crt"),
    ("garbage serving certificate", lambda d: with_(d, tls_crt=b"\x00garbage"), "leaf", "unreadable: "),
    (
        "serving key of another certificate",
        lambda d: with_(d, tls_key=certs.issue_ca(NOW).key_pem),
        "leaf",
        "unreadable: tls.key does not belong to tls.crt",
    ),
    (
        "signed by another CA",
        lambda d: with_(d, **dict(zip(("tls_crt", "tls_key"), _foreign_leaf(), strict=True))),
        "leaf",
        "not signed by the CA",
    ),
    (
        "SANs changed",
        lambda d: other_leaf(d, sans=[*SANS[1:], "old.example"]),
        "leaf",
        "SANs changed: added otel-operator-webhook; removed old.example",
    ),
    (
        "expiring",
        lambda d: other_leaf(d, validity=timedelta(days=12, hours=1)),
        "leaf",
        "certificate expires in 12 days",
    ),
    (
        "expired",
        lambda d: other_leaf(d, validity=timedelta(days=1), issued=NOW - timedelta(days=2)),
        "leaf",
        "certificate expired on ",
    ),
    (
        "expiring within hours",
        lambda d: other_leaf(d, validity=timedelta(hours=5, minutes=1)),
        "leaf",
        "certificate expires in 5 hours",
    ),
    ("current", lambda d: d, "keep", "valid until 2031-06-01T12:00:00+00:00"),
]


def _foreign_leaf() -> tuple[bytes, bytes]:
    leaf = certs.issue_leaf(certs.issue_ca(NOW), SANS, NOW)
    return leaf.cert_pem, leaf.key_pem


@pytest.mark.parametrize(("name", "change", "action", "reason"), CASES, ids=[c[0] for c in CASES])
def test_plan(
    good: dict[str, str],
    name: str,
    change: Callable[[dict[str, str]], dict[str, Any] | None],
    action: str,
    reason: str,
) -> None:
    now = NOW
    if name == "CA expiring":
        now = certs.not_after(files_of(good)["ca.crt"]) - timedelta(days=20)
    decision = certs.plan(change(good), SANS, now, renew_before=timedelta(days=30))
    assert decision.action == action
    assert decision.reason.startswith(reason), decision.reason
    # every decision that is not "keep" can be carried out on the same data, and the result is then kept
    if action != "keep":
        renewed = certs.encode_secret_data(certs.renew(decision, change(good), SANS, now))
        assert certs.plan(renewed, SANS, now, renew_before=timedelta(days=30)).action == "keep"


def test_sans_compare_normalized(good: dict[str, str]) -> None:
    shuffled = [s.upper() for s in reversed(SANS)] + [SANS[0]]
    assert certs.plan(good, shuffled, NOW).action == "keep"


def test_leaf_renewal_keeps_the_ca_byte_for_byte(good: dict[str, str]) -> None:
    later = NOW + certs.LEAF_VALIDITY - timedelta(days=10)
    decision = certs.plan(good, SANS, later)
    assert decision == certs.Decision("leaf", "certificate expires in 10 days")
    old, new = files_of(good), certs.renew(decision, good, SANS, later)
    assert (new["ca.crt"], new["ca.key"]) == (old["ca.crt"], old["ca.key"])
    assert new["tls.crt"] != old["tls.crt"]
    assert new["tls.key"] != old["tls.key"]
    verify(old["ca.crt"], new["tls.crt"], SANS[3], at=later)
    assert certs.not_after(new["tls.crt"]) == later + certs.LEAF_VALIDITY


def test_ca_renewal_bundles_the_old_ca_while_it_is_valid(good: dict[str, str]) -> None:
    old = files_of(good)
    later = certs.not_after(old["ca.crt"]) - timedelta(days=20)
    decision = certs.plan(good, SANS, later)
    assert decision.action == "ca"
    new = certs.renew(decision, good, SANS, later)
    bundle = certs.load_certs(new["ca.crt"])
    assert len(bundle) == 2
    assert bundle[1] == cert(old["ca.crt"])  # the old serving certificate stays trusted until it is replaced
    assert bundle[0] != bundle[1]
    verify(new["ca.crt"], new["tls.crt"], SANS[2], at=later)
    # a serving certificate of the old CA, still served until the files are re-read, is trusted by the new bundle
    old_ca = certs.KeyPair(old["ca.crt"], old["ca.key"])
    verify(new["ca.crt"], certs.issue_leaf(old_ca, SANS, later - timedelta(days=100)).cert_pem, SANS[2], at=later)
    # the next CA renewal, once the first CA has expired, drops it
    newest = certs.renew(certs.Decision("ca", "test"), certs.encode_secret_data(new), SANS, later + timedelta(days=21))
    assert certs.load_certs(newest["ca.crt"])[1:] == bundle[:1]


def test_an_unreadable_ca_is_not_carried_into_the_new_bundle(good: dict[str, str]) -> None:
    foreign = with_(good, ca_key=certs.issue_ca(NOW).key_pem)  # someone else's key: this CA is not ours to trust
    decision = certs.plan(foreign, SANS, NOW)
    assert decision.action == "ca"
    assert len(certs.load_certs(certs.renew(decision, foreign, SANS, NOW)["ca.crt"])) == 1


def test_renewing_a_keep_decision_is_an_error(good: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="nothing to renew"):
        certs.renew(certs.Decision("keep", "valid"), good, SANS, NOW)


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"", "Unable to load PEM"),
        (b"not PEM at all", "Unable to load PEM"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "error parsing asn1|Unable to load"),
    ],
)
def test_reading_garbage_pem_is_a_value_error(pem: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        certs.not_after(pem)
    with pytest.raises(ValueError, match=message):
        certs.sans_of(pem)


def test_service_sans() -> None:
    assert certs.service_sans("hook", "ns") == ["hook", "hook.ns", "hook.ns.svc", "hook.ns.svc.cluster.local"]
