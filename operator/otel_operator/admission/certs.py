"""The webhooks' own CA and serving certificate, when cert-manager does not provide them: issue, inspect, and decide
when to renew. Pure: plain data in and out, the time is always an argument (no clock reads, no I/O).

The CA lives much longer than the serving certificate, and its key is kept in the Secret next to it: renewing the
serving certificate then signs a new one with the same CA, so the caBundle in the webhook configurations stays valid
across rotations and only changes when the CA itself is replaced (every ~10 years, or when its Secret is lost).
A replaced CA is bundled with its still-valid predecessor, so the API server trusts both the old serving
certificate (still served until the files are re-read) and the new one.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from otel_operator.manifests.labels import COMPONENT, MANAGED_BY, OPERATOR

# The keys of the Secret (kubernetes.io/tls has tls.crt and tls.key; ca.crt is the usual companion).
TLS_CRT: Final = "tls.crt"
TLS_KEY: Final = "tls.key"
CA_CRT: Final = "ca.crt"  # the CA bundle: the signing CA first, then a predecessor that is still valid
CA_KEY: Final = "ca.key"  # the signing CA's key; never written to disk, only kept in the Secret
SECRET_TYPE: Final = "kubernetes.io/tls"
WEBHOOK_COMPONENT: Final = "webhook"

# 10 years: the CA only signs our own serving certificates, and every CA change is a caBundle change in the
# configurations (a short window where a stale bundle rejects calls); a long CA keeps that rare. The leaf is what
# rotates: 1 year, renewed 30 days before it ends (cert-manager's and the upstream chart's orders of magnitude).
CA_VALIDITY: Final = timedelta(days=3650)
LEAF_VALIDITY: Final = timedelta(days=365)
RENEW_BEFORE: Final = timedelta(days=30)
# Certificates start a little in the past: an API server whose clock is slightly behind still accepts them.
BACKDATE: Final = timedelta(minutes=5)
CA_COMMON_NAME: Final = "otel-operator-webhook-ca"

Action = Literal["keep", "leaf", "ca"]


@dataclass(frozen=True, slots=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with the Secret: keep it, issue a new serving certificate with the same CA, or a new CA and
    serving certificate. `reason` is for the log."""

    action: Action
    reason: str


def service_sans(service: str, namespace: str, cluster_domain: str = "cluster.local") -> list[str]:
    """The names the API server may use for a webhook Service (it dials `<service>.<namespace>.svc`)."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.{cluster_domain}",
    ]


def normalize_sans(sans: Sequence[str]) -> list[str]:
    """Sorted, deduplicated, DNS names lowercased, IPs in canonical form: the form `sans_of` returns."""
    out = set()
    for san in sans:
        name = san.strip()
        if not name:
            raise ValueError("a subject alternative name must not be empty")
        try:
            out.add(str(ipaddress.ip_address(name)))
        except ValueError:
            out.add(name.lower().rstrip("."))
    return sorted(out)


def _general_names(sans: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for san in normalize_sans(sans):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    return names


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be timezone-aware (e.g. datetime.now(UTC))")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def issue_ca(now: datetime, validity: timedelta = CA_VALIDITY, common_name: str = CA_COMMON_NAME) -> KeyPair:
    """A self-signed CA that can sign only end-entity certificates (path length 0)."""
    _check_aware(now)
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_leaf(
    ca: KeyPair,
    sans: Sequence[str],
    now: datetime,
    validity: timedelta = LEAF_VALIDITY,
    *,
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH,
) -> KeyPair:
    """A certificate for `sans` (strings that parse as IPs become IP SANs), signed by `ca`, for `usage` (serverAuth:
    a serving certificate; clientAuth: a client's); it never outlives the CA."""
    _check_aware(now)
    names = _general_names(sans)
    if not names:
        what = "client" if usage == ExtendedKeyUsageOID.CLIENT_AUTH else "serving"
        raise ValueError(f"a {what} certificate needs at least one subject alternative name")
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an ECDSA key")
    key = _new_key()
    first = names[0]
    common_name = first.value if isinstance(first, x509.DNSName) else str(first.value)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


# --- reading PEM ---


def load_certs(pem: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle; ValueError when there is none or one is malformed."""
    certs = x509.load_pem_x509_certificates(pem)
    if not certs:
        raise ValueError("no certificate in the PEM data")
    return certs


def not_after(pem: bytes) -> datetime:
    """The expiry (timezone-aware, UTC) of the first certificate in `pem`."""
    return load_certs(pem)[0].not_valid_after_utc


def sans_of(pem: bytes) -> list[str]:
    """The DNS and IP SANs of the first certificate in `pem`, in `normalize_sans` form; [] when it has none."""
    cert = load_certs(pem)[0]
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = [*ext.get_values_for_type(x509.DNSName), *(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))]
    return normalize_sans(names)


def _private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"the key is {type(key).__name__}, not ECDSA")
    return key


def _same_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, fmt) == key.public_key().public_bytes(enc, fmt)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


# --- the Secret ---


def decode_secret_data(data: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's `data` (base64 strings, as the API returns it) as bytes; ValueError on anything else."""
    out = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise ValueError(f"{key} is not a base64 string")
        try:
            out[key] = base64.b64decode(value, validate=True)
        except binascii.Error as err:
            raise ValueError(f"{key} is not valid base64 ({err})") from None
    return out


def encode_secret_data(files: Mapping[str, bytes]) -> dict[str, str]:
    return {key: base64.b64encode(value).decode("ascii") for key, value in sorted(files.items())}


def secret_manifest(name: str, namespace: str, files: Mapping[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_BY: OPERATOR, COMPONENT: WEBHOOK_COMPONENT},
        },
        "type": SECRET_TYPE,
        "data": encode_secret_data(files),
    }


def _remaining(what: str, end: datetime, now: datetime) -> str:
    left = end - now
    if left <= timedelta(0):
        return f"{what} expired on {end.isoformat()}"
    if left < timedelta(days=1):
        return f"{what} expires in {int(left.total_seconds() // 3600)} hours"
    return f"{what} expires in {left.days} days"


def _read_ca(files: Mapping[str, bytes]) -> x509.Certificate:
    """The signing CA (the first certificate of ca.crt), checked against ca.key; ValueError saying what is wrong."""
    if CA_CRT not in files or CA_KEY not in files:
        raise ValueError("no " + ", ".join(k for k in (CA_CRT, CA_KEY) if k not in files))
    ca_cert = load_certs(files[CA_CRT])[0]
    ca_key = _private_key(files[CA_KEY])
    if not _is_ca(ca_cert):
        raise ValueError(f"the first certificate of {CA_CRT} is not a CA")
    if not _same_key(ca_cert, ca_key):
        raise ValueError(f"{CA_KEY} does not belong to {CA_CRT}")
    return ca_cert


def plan(
    existing: Mapping[str, Any] | None,
    sans: Sequence[str],
    now: datetime,
    renew_before: timedelta = RENEW_BEFORE,
) -> Decision:
    """Decide from a Secret's `data` (base64 strings; None when there is no Secret). Anything unreadable is a
    decision too: a new CA when the CA part cannot be used, a new serving certificate when only that part cannot."""
    _check_aware(now)
    if not existing:
        return Decision("ca", "missing")
    try:
        files = decode_secret_data(existing)
    except ValueError as err:
        return Decision("ca", f"unreadable: {err}")

    try:
        ca_cert = _read_ca(files)
    except ValueError as err:
        return Decision("ca", f"unreadable: {err}")
    if ca_cert.not_valid_after_utc - now <= renew_before:
        return Decision("ca", _remaining("CA", ca_cert.not_valid_after_utc, now))

    problem = _leaf_problem(files, ca_cert, sans, now, renew_before)
    if problem:
        return Decision("leaf", problem)
    return Decision("keep", f"valid until {not_after(files[TLS_CRT]).isoformat()}")


def _leaf_problem(  # noqa: PLR0911 (one return per reason)
    files: Mapping[str, bytes], ca_cert: x509.Certificate, sans: Sequence[str], now: datetime, renew_before: timedelta
) -> str | None:
    """Why the serving certificate must be renewed, or None when it is fine."""
    if TLS_CRT not in files or TLS_KEY not in files:
        return "unreadable: no " + ", ".join(k for k in (TLS_CRT, TLS_KEY) if k not in files)
    try:
        leaf = load_certs(files[TLS_CRT])[0]
        leaf_key = _private_key(files[TLS_KEY])
    except ValueError as err:
        return f"unreadable: {err}"
    if not _same_key(leaf, leaf_key):
        return f"unreadable: {TLS_KEY} does not belong to {TLS_CRT}"
    try:
        leaf.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return "not signed by the CA"
    have, want = set(sans_of(files[TLS_CRT])), set(normalize_sans(sans))
    if have != want:
        changes = []
        if added := sorted(want - have):
            changes.append("added " + ", ".join(added))
        if removed := sorted(have - want):
            changes.append("removed " + ", ".join(removed))
        return "SANs changed: " + "; ".join(changes)
    if leaf.not_valid_after_utc - now <= renew_before:
        return _remaining("certificate", leaf.not_valid_after_utc, now)
    return None


def renew(
    decision: Decision,
    existing: Mapping[str, Any] | None,
    sans: Sequence[str],
    now: datetime,
    *,
    ca_validity: timedelta = CA_VALIDITY,
    leaf_validity: timedelta = LEAF_VALIDITY,
) -> dict[str, bytes]:
    """The Secret's new files (decoded) for a "leaf" or "ca" decision over the same `existing` data.

    "leaf" keeps ca.crt and ca.key byte for byte (so the caBundle does not change). "ca" issues a new CA and
    bundles the old one after it while the old one is still valid."""
    _check_aware(now)
    if decision.action == "keep":
        raise ValueError("nothing to renew: the decision is to keep the certificate")
    if decision.action == "leaf":
        files = decode_secret_data(existing or {})
        ca = KeyPair(files[CA_CRT], files[CA_KEY])
        bundle = files[CA_CRT]
    else:
        ca = issue_ca(now, ca_validity)
        bundle = ca.cert_pem + _still_valid(existing, now)
    leaf = issue_leaf(ca, sans, now, leaf_validity)
    return {TLS_CRT: leaf.cert_pem, TLS_KEY: leaf.key_pem, CA_CRT: bundle, CA_KEY: ca.key_pem}


def _still_valid(existing: Mapping[str, Any] | None, now: datetime) -> bytes:
    """The old bundle's CAs that are still valid, as PEM: only when the old CA was ours and readable (a Secret
    someone else filled must not smuggle a CA into the bundle); nothing otherwise."""
    try:
        files = decode_secret_data(existing or {})
        _read_ca(files)
        old = load_certs(files[CA_CRT])
    except ValueError:
        return b""
    return b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in old if _is_ca(c) and c.not_valid_after_utc > now
    )
