"""The operator's own certificates for allocator<->collector mutual TLS, when cert-manager does not provide them
(manifests.mtls says which Secrets and why): issue them, keep them while they are valid, rotate them before they
expire, prune them when mTLS is turned off.

Their content is not deterministic (fresh keys), so they are never part of the build's desired objects: a Secret
that is still good is left exactly as it is, and only its metadata (labels, owner) is repaired when it drifted.
Rotation runs on every reconcile, so the safety-net timer (every 300 s) renews a certificate long before it ends
(certificates last a year, the CA ten, and each is renewed 30 days before its end).

CA rotation keeps trust across the change: the new CA is bundled with its predecessor while that is still valid, and
both leaves are re-issued at once, so a collector and an allocator that pick up the new files at different moments
still trust each other.

Pure planning (`plan_secrets`, `issue_client`) first; the thin adapter (`ensure`) at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from otel_operator.admission import certs
from otel_operator.manifests.mtls import MTLS_LABEL, IssuedCertificates, IssuedSecret
from otel_operator.reconcile.desired import OWNER_UID_LABEL, covers, owned
from otel_operator.reconcile.kube import FIELD_MANAGER, Kube, KubeError

log = logging.getLogger("otel_operator.reconcile")

OPAQUE: Final = "Opaque"
CA_COMMON_NAME: Final = "otel-operator-targetallocator-ca"
_LEAF_KEYS: Final = (certs.CA_CRT, certs.TLS_CRT, certs.TLS_KEY)
_CA_KEYS: Final = (certs.CA_CRT, certs.CA_KEY)


# --- pure: certificates ---------------------------------------------------------------------------------------------


def issue_client(
    ca: certs.KeyPair, sans: Sequence[str], now: datetime, validity: timedelta = certs.LEAF_VALIDITY
) -> certs.KeyPair:
    """A client certificate (extended key usage clientAuth, which the allocator requires) for `sans`, signed by
    `ca`; it never outlives the CA."""
    return certs.issue_leaf(ca, sans, now, validity, usage=ExtendedKeyUsageOID.CLIENT_AUTH)


def has_usage(pem: bytes, usage: x509.ObjectIdentifier) -> bool:
    """Whether the first certificate in `pem` may be used for `usage` (an extended key usage OID)."""
    try:
        ext = certs.load_certs(pem)[0].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    return usage in ext


# --- pure: what to write --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Write:
    """One Secret to (re)write: its decoded files, and why (for the log)."""

    secret: IssuedSecret
    files: Mapping[str, bytes]
    reason: str


def _data(secret: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict((secret or {}).get("data") or {})


def _merged(ca: Mapping[str, Any], leaf: Mapping[str, Any]) -> dict[str, Any]:
    """One Secret's `data` as certs.plan reads it: the CA's files and the leaf's."""
    return {
        **{k: leaf[k] for k in (certs.TLS_CRT, certs.TLS_KEY) if k in leaf},
        **{k: ca[k] for k in _CA_KEYS if k in ca},
    }


def _decoded(data: Mapping[str, Any]) -> dict[str, bytes]:
    try:
        return certs.decode_secret_data(data)
    except ValueError:
        return {}


def _leaf_files(bundle: bytes, pair: certs.KeyPair) -> dict[str, bytes]:
    return {certs.CA_CRT: bundle, certs.TLS_CRT: pair.cert_pem, certs.TLS_KEY: pair.key_pem}


def _signing_ca(bundle: bytes, key_pem: bytes) -> certs.KeyPair:
    """The CA that signs: the bundle's first certificate, with its key."""
    return certs.KeyPair(certs.load_certs(bundle)[0].public_bytes(serialization.Encoding.PEM), key_pem)


def plan_secrets(
    want: IssuedCertificates,
    live: Mapping[str, Mapping[str, Any] | None],
    now: datetime,
    renew_before: timedelta = certs.RENEW_BEFORE,
) -> list[Write]:
    """The Secrets to write so that the CA, server and client certificates are all valid, given the live ones (by
    name; None when absent). [] when everything is good: nothing is rewritten."""
    ca_data = _data(live.get(want.ca.name))
    server_data = _data(live.get(want.server.name))
    client_data = _data(live.get(want.client.name))
    server_sans = list(want.server.dns_names)

    decision = certs.plan(_merged(ca_data, server_data), server_sans, now, renew_before)
    if decision.action == "ca":
        files = certs.renew(decision, ca_data, server_sans, now)
        bundle = files[certs.CA_CRT]  # the new CA first, then its predecessor while that is valid
        client = issue_client(_signing_ca(bundle, files[certs.CA_KEY]), want.client.dns_names, now)
        reason = f"new CA: {decision.reason}"
        return [
            Write(want.ca, {certs.CA_CRT: bundle, certs.CA_KEY: files[certs.CA_KEY]}, reason),
            Write(want.server, {k: files[k] for k in _LEAF_KEYS}, reason),
            Write(want.client, _leaf_files(bundle, client), reason),
        ]

    ca_files = _decoded(ca_data)  # readable: plan checked it
    bundle = ca_files[certs.CA_CRT]
    ca = _signing_ca(bundle, ca_files[certs.CA_KEY])
    out: list[Write] = []
    if decision.action == "leaf":
        out.append(Write(want.server, _leaf_files(bundle, certs.issue_leaf(ca, server_sans, now)), decision.reason))
    else:
        out += _bundle_fix(want.server, server_data, bundle)

    client_decision = certs.plan(_merged(ca_data, client_data), list(want.client.dns_names), now, renew_before)
    client_pem = _decoded(client_data).get(certs.TLS_CRT, b"")
    if client_decision.action == "keep" and not has_usage(client_pem, ExtendedKeyUsageOID.CLIENT_AUTH):
        client_decision = certs.Decision("leaf", "not usable as a client certificate (no clientAuth usage)")
    if client_decision.action != "keep":
        client = issue_client(ca, want.client.dns_names, now)
        out.append(Write(want.client, _leaf_files(bundle, client), client_decision.reason))
    else:
        out += _bundle_fix(want.client, client_data, bundle)
    return out


def _bundle_fix(secret: IssuedSecret, data: Mapping[str, Any], bundle: bytes) -> list[Write]:
    """A valid leaf whose ca.crt is not the CA's current bundle (edited, or left from before a CA change) gets the
    bundle; its certificate and key stay."""
    files = _decoded(data)
    if files.get(certs.CA_CRT) == bundle:
        return []
    return [Write(secret, {**{k: files[k] for k in (certs.TLS_CRT, certs.TLS_KEY)}, certs.CA_CRT: bundle}, "CA bundle")]


def secret_manifest(want: IssuedCertificates, secret: IssuedSecret, files: Mapping[str, bytes]) -> dict[str, Any]:
    """The Secret as written (before `owned` adds the owner): kubernetes.io/tls for the leaves, Opaque for the CA
    (it holds ca.crt and ca.key, and never reaches a pod)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret.name,
            "namespace": want.namespace,
            "labels": {**want.labels, MTLS_LABEL: secret.role},
        },
        "type": OPAQUE if secret.role == "ca" else certs.SECRET_TYPE,
        "data": certs.encode_secret_data(files),
    }


def metadata_drifted(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether a kept Secret's labels or owner need repair (its data is left alone)."""
    want = {"metadata": {k: desired["metadata"][k] for k in ("labels", "ownerReferences") if k in desired["metadata"]}}
    return not covers(live, want) or live.get("type") != desired.get("type")


# --- the adapter ----------------------------------------------------------------------------------------------------


def _collection(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets"


async def _apply(kube: Kube, obj: Mapping[str, Any]) -> None:
    meta = obj["metadata"]
    await kube.request(
        "PATCH",
        f"{_collection(meta['namespace'])}/{meta['name']}",
        params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        body=obj,
        content_type="application/apply-patch+yaml",
    )


async def ensure(
    kube: Kube, owner: Mapping[str, Any], want: IssuedCertificates | None, *, now: datetime | None = None
) -> list[str]:
    """Make the owner's mTLS Secrets valid (issue, rotate, repair metadata) and prune the ones it no longer needs
    (`want` None: mTLS is off, or cert-manager provides them). Returns what was written or deleted, for the log."""
    moment = now or datetime.now(UTC)
    meta = owner["metadata"]
    namespace = str(meta.get("namespace"))
    done: list[str] = []
    if want is not None:
        live: dict[str, dict[str, Any] | None] = {}
        for secret in want.secrets:
            live[secret.name] = await kube.get(f"{_collection(want.namespace)}/{secret.name}")
        writes = {w.secret.name: w for w in plan_secrets(want, live, moment)}
        for secret in want.secrets:
            write = writes.get(secret.name)
            current = live[secret.name]
            if write is not None:
                await _apply(kube, owned(secret_manifest(want, secret, write.files), owner))
                log.info("mTLS: wrote Secret %s/%s (%s)", want.namespace, secret.name, write.reason)
                done.append(f"wrote {secret.name}")
                continue
            assert current is not None  # plan_secrets writes every absent Secret
            desired = owned(secret_manifest(want, secret, _decoded(_data(current))), owner)
            if metadata_drifted(current, desired):
                await _apply(kube, {**desired, "data": _data(current)})
                done.append(f"repaired {secret.name}")
    keep = {s.name for s in want.secrets} if want is not None else set()
    try:
        ours = await kube.list(_collection(namespace), f"{OWNER_UID_LABEL}={meta['uid']},{MTLS_LABEL}")
    except KubeError as err:
        if want is None and err.status == 403:  # an operator that may not read Secrets has issued none
            return done
        raise
    for stale in ours:
        name = str(stale["metadata"]["name"])
        if name in keep:
            continue
        try:
            await kube.request("DELETE", f"{_collection(namespace)}/{name}")
        except KubeError as err:
            if err.status != 404:  # gone meanwhile is as good as deleted
                raise
        log.info("mTLS: deleted Secret %s/%s (no longer needed)", namespace, name)
        done.append(f"deleted {name}")
    return done
