"""The checks prometheus-operator makes on the TLS material a monitor refers to, before accepting it.

When a tlsConfig's references are loaded (its assets store, pkg/assets/tls.go), a non-empty CA must hold a PEM
block that is an X.509 certificate, and a non-empty client certificate with a non-empty key must form a key
pair, as Go's `tls.X509KeyPair` checks it. A monitor that fails either is rejected; without these checks it would
reach the collector, whose scrape of it fails for every target. Empty values are not checked, as upstream.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

# Go's pem.Decode: a BEGIN line, optional "Key: value" headers, base64, the END line of the same type.
_BLOCK = re.compile(r"(?:^|\n)-----BEGIN ([^\n]*?)-----[ \t\r]*\n((?:.*?\n)?)-----END \1-----", re.S)
_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)  # what Go's tls takes
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _blocks(text: str) -> Iterator[tuple[str, bytes]]:
    """Every PEM block of `text` that decodes, as (type, DER bytes); the others are skipped, as Go skips them."""
    for match in _BLOCK.finditer(text):
        lines = match.group(2).splitlines()
        while lines and ":" in lines[0]:
            lines.pop(0)
        if lines and not lines[0].strip():
            lines.pop(0)  # the blank line after the headers
        try:
            yield match.group(1), base64.b64decode("".join("".join(lines).split()), validate=True)
        except (binascii.Error, ValueError):
            continue


def check_ca(pem: str) -> str | None:
    """Why `pem` is not a usable CA, or None when it is."""
    first = next(_blocks(pem), None)
    if first is None:
        return "failed to decode PEM block; the CA must be a PEM-encoded certificate"
    try:
        x509.load_der_x509_certificate(first[1])
    except ValueError as err:
        return f"failed to parse certificate: {err}"
    return None


def _private_key(pem: str) -> PrivateKey | str:
    """The first PRIVATE KEY block of `pem` parsed as Go's tls package parses it, or why it cannot be."""
    der = next((der for kind, der in _blocks(pem) if kind == "PRIVATE KEY" or kind.endswith(" PRIVATE KEY")), None)
    if der is None:
        return "found no PRIVATE KEY PEM block in the key"
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        return "failed to parse the private key (PKCS #1, PKCS #8 or SEC 1, unencrypted)"
    if not isinstance(key, _KEY_TYPES):
        return f"unsupported private key type {type(key).__name__}"
    return key


def check_key_pair(cert_pem: str, key_pem: str) -> str | None:
    """Why `cert_pem` and `key_pem` do not form a TLS key pair, or None when they do."""
    certs = [der for kind, der in _blocks(cert_pem) if kind == "CERTIFICATE"]
    if not certs:
        return "found no CERTIFICATE PEM block in the certificate"
    key = _private_key(key_pem)
    if isinstance(key, str):
        return key
    try:
        leaf = x509.load_der_x509_certificate(certs[0])  # only the leaf is parsed, as upstream
    except ValueError as err:
        return f"failed to parse the certificate: {err}"
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if leaf.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        return "the private key does not match the certificate's public key"
    return None
