"""The I/O around `certs`: the Secret in the API, the files kopf's WebhookServer serves, the caBundle of the webhook
configurations, and the loop that keeps all three current.

Every replica serves the webhooks, so every replica runs this (not only the leader): they share the one Secret,
and a replica that loses a write race (409) takes the winner's certificate instead of writing its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from kubernetes_asyncio.client.api_client import ApiClient

from otel_operator.admission import certs, names
from otel_operator.admission.configurations import Client, client_config
from otel_operator.reconcile.kube import Kube, KubeError

log = logging.getLogger("otel_operator.admission")

# What kopf's WebhookServer reads (certfile=tls.crt, pkeyfile=tls.key) and the CA for `curl --cacert`.
SERVED_FILES: Final = (certs.CA_CRT, certs.TLS_KEY, certs.TLS_CRT)  # written in this order: the pair last
DEFAULT_INTERVAL: Final = 60.0  # seconds; how soon a caBundle reset by `helm upgrade` is repaired

_ADMISSION: Final = "/apis/admissionregistration.k8s.io/v1"
CONFIGURATION_KINDS: Final = {
    "ValidatingWebhookConfiguration": f"{_ADMISSION}/validatingwebhookconfigurations",
    "MutatingWebhookConfiguration": f"{_ADMISSION}/mutatingwebhookconfigurations",
}


class CertificateError(Exception):
    """The certificate could not be settled this time (e.g. a write race that left no usable Secret)."""


class CertificateFilesMissing(CertificateError):
    """cert-manager mode: the mounted certificate files did not appear in time."""


def _kube(api: ApiClient | Kube) -> Kube:
    return api if isinstance(api, Kube) else Kube(api)


def _secret_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets/{name}"


def utc_now() -> datetime:
    return datetime.now(UTC)


async def ensure_certificate(
    api: ApiClient | Kube,
    namespace: str,
    secret_name: str,
    *,
    sans: Sequence[str],
    cert_dir: str | Path,
    now: datetime,
    renew_before: timedelta = certs.RENEW_BEFORE,
    ca_validity: timedelta = certs.CA_VALIDITY,
    leaf_validity: timedelta = certs.LEAF_VALIDITY,
) -> bytes:
    """Make the Secret hold a current CA and serving certificate for `sans`, write tls.crt, tls.key and ca.crt
    into `cert_dir` (only the files whose content changed), and return the CA bundle (PEM) for the caBundle."""
    kube = _kube(api)
    path = _secret_path(namespace, secret_name)
    secret = await kube.get(path)
    data = secret.get("data") if secret else None
    decision = certs.plan(data, sans, now, renew_before)
    if decision.action == "keep":
        files = certs.decode_secret_data(data or {})
    else:
        files = certs.renew(decision, data, sans, now, ca_validity=ca_validity, leaf_validity=leaf_validity)
        try:
            await _write_secret(kube, namespace, secret_name, secret, files)
        except KubeError as err:
            if err.status != 409:
                raise
            # another replica wrote first: use theirs, if it is good
            files = await _theirs(kube, path, sans, now, renew_before)
            log.info(
                "another replica renewed the webhook certificate first; using theirs",
                extra={"secret": f"{namespace}/{secret_name}"},
            )
        else:
            log.info(
                "issued a new webhook %s",
                "CA and serving certificate" if decision.action == "ca" else "serving certificate",
                extra={
                    "secret": f"{namespace}/{secret_name}",
                    "action": decision.action,
                    "reason": decision.reason,
                    "notAfter": certs.not_after(files[certs.TLS_CRT]).isoformat(),
                    "sans": certs.normalize_sans(sans),
                },
            )
    written = write_files(cert_dir, {name: files[name] for name in SERVED_FILES})
    if written:
        log.info("wrote webhook certificate files", extra={"dir": str(cert_dir), "files": written})
    return files[certs.CA_CRT]


async def _write_secret(
    kube: Kube, namespace: str, name: str, current: Mapping[str, Any] | None, files: Mapping[str, bytes]
) -> None:
    body = certs.secret_manifest(name, namespace, files)
    if current is None:
        await kube.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body=body)
        return
    # replace, keeping what others put in the metadata; the resourceVersion turns a concurrent write into a 409
    meta = dict(current.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), **body["metadata"]["labels"]}
    meta.pop("managedFields", None)
    await kube.request("PUT", _secret_path(namespace, name), body={**body, "metadata": meta})


async def _theirs(
    kube: Kube, path: str, sans: Sequence[str], now: datetime, renew_before: timedelta
) -> dict[str, bytes]:
    secret = await kube.get(path)
    data = secret.get("data") if secret else None
    decision = certs.plan(data, sans, now, renew_before)
    if decision.action != "keep":
        raise CertificateError(
            f"lost a write race for {path}, and the winner's certificate is no good either: {decision.reason}"
        )
    return certs.decode_secret_data(data or {})


def write_files(cert_dir: str | Path, files: Mapping[str, bytes]) -> list[str]:
    """Write each file whose content differs, atomically (a temporary file in the same directory, then a rename),
    mode 0600; the names written, in order. All temporary files are written before the first rename, so the renames
    (and the moment kopf could see a new certificate with an old key) follow each other at once."""
    folder = Path(cert_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    changed = [name for name, content in files.items() if _read(folder / name) != content]
    staged: list[tuple[str, str]] = []
    try:
        for name in changed:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
            staged.append((tmp, name))
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o600)
                out.write(files[name])
                out.flush()
                os.fsync(out.fileno())
        for tmp, name in staged:
            os.replace(tmp, folder / name)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return changed


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


async def patch_ca_bundle(
    api: ApiClient | Kube,
    configuration_name: str,
    ca_pem: bytes,
    *,
    missing: set[str] | None = None,
) -> bool:
    """Set `clientConfig.caBundle` of every webhook in the Validating and the Mutating WebhookConfiguration named
    `configuration_name` where it differs; True when anything was patched. A configuration that does not exist is
    a warning, not an error. `missing` (the loop's memory) warns once per absence instead of every interval."""
    kube = _kube(api)
    want = base64.b64encode(ca_pem).decode("ascii")
    changed = False
    for kind, collection in CONFIGURATION_KINDS.items():
        path = f"{collection}/{configuration_name}"
        found = await kube.get(path)
        if found is None:
            if missing is None or kind not in missing:
                log.warning(
                    "%s %s not found: the chart creates it; its caBundle is set once it exists",
                    kind,
                    configuration_name,
                    extra={"configuration": f"{kind}/{configuration_name}"},
                )
            if missing is not None:
                missing.add(kind)
            continue
        if missing is not None:
            missing.discard(kind)
        ops: list[dict[str, Any]] = []
        stale: list[str] = []
        for i, webhook in enumerate(found.get("webhooks") or []):
            if (webhook.get("clientConfig") or {}).get("caBundle") != want:
                # `test` pins the index to the webhook we looked at, should the list change under us
                ops.append({"op": "test", "path": f"/webhooks/{i}/name", "value": webhook["name"]})
                ops.append({"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": want})
                stale.append(webhook["name"])
        if not ops:
            continue
        await kube.request("PATCH", path, body=ops, content_type="application/json-patch+json")
        changed = True
        log.info(
            "patched the caBundle of %s %s",
            kind,
            configuration_name,
            extra={"configuration": f"{kind}/{configuration_name}", "webhooks": stale},
        )
    return changed


CRD_PATH: Final = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def patch_crd_conversion(
    api: ApiClient | Kube,
    client: Client,
    ca_pem: bytes,
    *,
    crd: str = names.COLLECTOR_CRD,
    missing: set[str] | None = None,
) -> bool:
    """Point the CRD's conversion webhook at this operator (`client`: its Service, or a URL) with `ca_pem` as the
    caBundle, where it differs; True when patched. The CRD ships with the chart's default Service and no caBundle,
    so a v1alpha1 request fails until this runs, never stores an unconverted object. A CRD without a conversion
    webhook (an older one) is left alone, said once."""
    kube = _kube(api)
    path = f"{CRD_PATH}/{crd}"
    found = await kube.get(path)
    conversion = ((found or {}).get("spec") or {}).get("conversion") or {}
    if found is None or conversion.get("strategy") != "Webhook":
        if missing is None or crd not in missing:
            log.warning(
                "CustomResourceDefinition %s %s: opentelemetry.io/v1alpha1 is not converted; apply the chart's CRDs "
                "(crds/) to serve it",
                crd,
                "not found" if found is None else "has no conversion webhook",
                extra={"crd": crd},
            )
        if missing is not None:
            missing.add(crd)
        return False
    if missing is not None:
        missing.discard(crd)
    want = client_config(client, names.CONVERSION_PATH.lstrip("/"), ca_pem)
    if (conversion.get("webhook") or {}).get("clientConfig") == want:
        return False
    ops = [
        {"op": "test", "path": "/spec/conversion/strategy", "value": "Webhook"},
        {"op": "add", "path": "/spec/conversion/webhook/clientConfig", "value": want},
    ]
    await kube.request("PATCH", path, body=ops, content_type="application/json-patch+json")
    where = want.get("url") or "{namespace}/{name}".format(**want["service"])
    log.info("pointed the conversion webhook of %s at %s", crd, where, extra={"crd": crd})
    return True


async def keep_certificates(
    api: ApiClient | Kube,
    namespace: str,
    secret_name: str,
    *,
    configuration_name: str,
    sans: Sequence[str],
    cert_dir: str | Path,
    stop: asyncio.Event,
    interval: float = DEFAULT_INTERVAL,
    renew_before: timedelta = certs.RENEW_BEFORE,
    clock: Callable[[], datetime] = utc_now,
    conversion: Client | None = None,
) -> None:
    """Until `stop` is set: every `interval` seconds, renew the certificate before it expires and put the caBundle
    back where it drifted (and the collector CRD's conversion webhook, when `conversion` says where it is served).
    API errors are logged and retried at the next interval; the first round runs at once."""
    missing: set[str] = set()
    kube = _kube(api)
    while not stop.is_set():
        try:
            ca_pem = await ensure_certificate(
                kube, namespace, secret_name, sans=sans, cert_dir=cert_dir, now=clock(), renew_before=renew_before
            )
            await patch_ca_bundle(kube, configuration_name, ca_pem, missing=missing)
            if conversion is not None:
                await patch_crd_conversion(kube, conversion, ca_pem, missing=missing)
        except Exception as err:  # any failure (API, network, disk): log it, retry at the next interval
            log.warning(
                "could not check the webhook certificate; retrying in %ss: %s: %s",
                interval,
                type(err).__name__,
                err,
                extra={"secret": f"{namespace}/{secret_name}"},
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def wait_for_files(cert_dir: str | Path, within: float, *, secret_name: str, poll: float = 0.5) -> None:
    """cert-manager mode: wait until tls.crt and tls.key exist (non-empty) in `cert_dir`, where the Secret that
    cert-manager fills is mounted; kopf's server must not start before. CertificateFilesMissing after `within` s."""
    folder = Path(cert_dir)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        absent = [name for name in (certs.TLS_CRT, certs.TLS_KEY) if not _non_empty(folder / name)]
        if not absent:
            return
        if loop.time() >= deadline:
            raise CertificateFilesMissing(
                f"no webhook serving certificate in {folder} after {within:g}s ({', '.join(absent)} missing): "
                f"cert-manager writes them into the Secret {secret_name}, mounted there; check that its Certificate "
                "is Ready and that the Secret is mounted at that path"
            )
        await asyncio.sleep(poll)


def _non_empty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


async def keep_conversion_from_files(
    api: ApiClient | Kube,
    client: Client,
    ca_file: str | Path,
    *,
    stop: asyncio.Event,
    interval: float = DEFAULT_INTERVAL,
) -> None:
    """cert-manager mode: the CA is the mounted Secret's ca.crt; keep the CRD's conversion webhook pointed at us
    with it (cert-manager's injector would need an annotation on a CRD the chart cannot template)."""
    missing: set[str] = set()
    kube = _kube(api)
    while not stop.is_set():
        try:
            ca_pem = _read(Path(ca_file))
            if ca_pem:
                await patch_crd_conversion(kube, client, ca_pem, missing=missing)
        except Exception as err:  # logged, retried at the next interval
            log.warning("could not check the CRD's conversion webhook; retrying in %ss: %s: %s", interval,
                        type(err).__name__, err)  # fmt: skip
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
