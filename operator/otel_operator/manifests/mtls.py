"""Mutual TLS between the target allocator and its collectors (`spec.targetAllocator.mtls.enabled`): what every
object needs for it, as data (operator reference §4.1, §5.2-5.4; target-allocator reference §1.5).

Why: the allocator resolves the credentials of ServiceMonitors and PodMonitors (basic auth, bearer tokens, TLS keys
from Secrets) and hands them to the collectors inside the scrape configs. It serves them whole only on its
mutual-TLS listener; plain HTTP gets `<secret>` in their place.

Three Secrets, in the collector's namespace, named as upstream names them:
- `<allocator>-ca-cert`: the CA that signs both certificates below;
- `<allocator>-ta-server-cert`: the allocator's serving certificate (the Service's DNS names), mounted at /tls in
  the allocator's pod;
- `<collector>-ta-client-cert`: the collectors' client certificate, mounted at /tls in every collector pod.
Each leaf Secret carries `ca.crt`, `tls.crt` and `tls.key`, so both sides find the CA, their certificate and their
key under the same paths.

Who fills them (`certificate_source`):
- cert-manager, as upstream does, when `useCertManager` (default true) and the cluster serves cert-manager.io/v1:
  two Issuers (self-signed, then the CA) and three Certificates are built with the allocator's objects.
- otherwise the operator itself (reconcile.mtls): upstream refuses mTLS without cert-manager; otel-operator issues
  and rotates the certificates, so mTLS works on any cluster.
User-provided certificates (`mtls.tls`) are refused by name: not supported yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from otel_operator.manifests import labels, naming
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.problems import Problems

CERT_MANAGER_API: Final = "cert-manager.io/v1"
TLS_DIR: Final = "/tls"
CA_FILE: Final = "ca.crt"
CERT_FILE: Final = "tls.crt"
KEY_FILE: Final = "tls.key"
HTTPS_LISTEN: Final = ":8443"
# How often the collector re-reads its client certificate files (upstream writes 5m): a rotated Secret reaches the
# pod's volume within about a minute, and the old certificate stays valid for weeks after its renewal.
CLIENT_RELOAD_INTERVAL: Final = "5m"
SERVICE_HTTPS_PORT: Final = 443
# The label that marks the Secrets the operator issued (its value: ca, server, client), to find and prune them.
MTLS_LABEL: Final = "otel-operator.opentelemetry.io/mtls"
_OU: Final = "opentelemetry-operator"

Source = Literal["cert-manager", "operator"]
Role = Literal["ca", "server", "client"]


def enabled(mtls: Any) -> bool:
    return isinstance(mtls, Mapping) and bool(mtls.get("enabled"))


def certificate_source(mtls: Mapping[str, Any], options: BuildOptions) -> Source:
    """cert-manager when asked for (`useCertManager`, default true) and served; the operator otherwise. A cluster
    whose APIs are not known (`render`) is taken to serve it, as upstream assumes."""
    use_cert_manager = mtls.get("useCertManager")
    if (use_cert_manager is None or bool(use_cert_manager)) and options.serves(CERT_MANAGER_API):
        return "cert-manager"
    return "operator"


def check(mtls: Any, prefix: str, found: Problems) -> None:
    """What an enabled `mtls` may not ask for; what a disabled one asks for in vain is a warning."""
    if not enabled(mtls):
        if isinstance(mtls, Mapping) and mtls.get("tls"):
            found.warn(f"{prefix}.tls", "ignored: mTLS is not enabled (set enabled: true to use it)")
        return
    if mtls.get("tls"):
        found.error(
            f"{prefix}.tls",
            "user-provided certificates for mutual TLS are not supported yet by otel-operator; remove tls to let "
            "cert-manager (useCertManager: true, where installed) or the operator issue and rotate them",
        )


# --- names, files, endpoints ----------------------------------------------------------------------------------------


def service_dns_names(allocator_name: str, namespace: str) -> list[str]:
    """The names a collector may dial the allocator's Service by: the server certificate's SANs (upstream's three;
    the endpoint the operator writes uses the first)."""
    service = naming.allocator(allocator_name)
    return [service, f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def client_dns_names(collector_name: str, namespace: str) -> list[str]:
    """The client certificate's names: the collector's (the allocator checks only the CA and the client usage)."""
    workload = naming.collector(collector_name)
    return [workload, f"{workload}.{namespace}.svc"]


def collector_tls() -> dict[str, str]:
    """`receivers.prometheus.target_allocator.tls` in the collector's config."""
    return {
        "ca_file": f"{TLS_DIR}/{CA_FILE}",
        "cert_file": f"{TLS_DIR}/{CERT_FILE}",
        "key_file": f"{TLS_DIR}/{KEY_FILE}",
        "reload_interval": CLIENT_RELOAD_INTERVAL,
    }


def allocator_https() -> dict[str, Any]:
    """`https` in targetallocator.yaml: the mutual-TLS listener and its files."""
    return {
        "enabled": True,
        "listen_addr": HTTPS_LISTEN,
        "ca_file_path": f"{TLS_DIR}/{CA_FILE}",
        "tls_cert_file_path": f"{TLS_DIR}/{CERT_FILE}",
        "tls_key_file_path": f"{TLS_DIR}/{KEY_FILE}",
    }


def _secret_volume(secret: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"name": secret, "secret": {"secretName": secret}}, {"name": secret, "mountPath": TLS_DIR}


def allocator_volume(allocator_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(volume, mount) of the allocator's serving certificate."""
    return _secret_volume(naming.allocator_server_certificate(allocator_name))


def collector_volume(collector_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(volume, mount) of the collectors' client certificate."""
    return _secret_volume(naming.allocator_client_certificate(collector_name))


# --- the operator's own certificates --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    name: str
    role: Role
    dns_names: tuple[str, ...]  # () for the CA


@dataclass(frozen=True, slots=True)
class IssuedCertificates:
    """The Secrets the operator issues and keeps valid for one collector's embedded allocator (cert-manager is not
    used). `labels` are the Secrets' labels (the owner's uid label is added by the reconciler)."""

    namespace: str
    ca: IssuedSecret
    server: IssuedSecret
    client: IssuedSecret
    labels: Mapping[str, str]

    @property
    def secrets(self) -> tuple[IssuedSecret, ...]:
        return (self.ca, self.server, self.client)


def issued_certificates(collector: Mapping[str, Any], options: BuildOptions) -> IssuedCertificates | None:
    """What the operator must issue for an OpenTelemetryCollector (one that builds): None unless its embedded
    allocator is enabled with mTLS and cert-manager does not provide the certificates."""
    meta = collector.get("metadata") or {}
    spec = collector.get("spec") or {}
    ta = spec.get("targetAllocator") or {}
    own_labels = meta.get("labels") or {}
    if collector.get("kind") != "OpenTelemetryCollector" or not ta.get("enabled") or not enabled(ta.get("mtls")):
        return None
    if own_labels.get(labels.TARGET_ALLOCATOR_LABEL):  # it uses another allocator: not the embedded one
        return None
    if certificate_source(ta["mtls"], options) != "operator":
        return None
    name, namespace = str(meta.get("name")), str(meta.get("namespace"))
    secret_labels = labels.object_labels(
        own_labels,
        namespace=namespace,
        name=name,
        object_name=naming.allocator(name),
        image=str(ta.get("image") or ""),
        component=labels.ALLOCATOR_COMPONENT,
        filters=options.label_filters,
    )
    return IssuedCertificates(
        namespace=namespace,
        ca=IssuedSecret(naming.allocator_ca_certificate(name), "ca", ()),
        server=IssuedSecret(
            naming.allocator_server_certificate(name), "server", tuple(service_dns_names(name, namespace))
        ),
        client=IssuedSecret(
            naming.allocator_client_certificate(name), "client", tuple(client_dns_names(name, namespace))
        ),
        labels=secret_labels,
    )


# --- cert-manager ---------------------------------------------------------------------------------------------------


def cert_manager_objects(
    allocator_name: str, collector_name: str, namespace: str, object_labels: Mapping[str, str]
) -> list[Object]:
    """Upstream's cert-manager objects: a self-signed Issuer makes the CA Certificate, a CA Issuer signs the
    allocator's serving and the collectors' client Certificates. Each Certificate's Secret has its name."""
    ca = naming.allocator_ca_certificate(allocator_name)
    ca_issuer = naming.ca_issuer(allocator_name)
    self_signed = naming.self_signed_issuer(allocator_name)

    def meta(name: str) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": {**object_labels, labels.NAME: name}}

    def leaf(name: str) -> Object:
        return {
            "apiVersion": CERT_MANAGER_API,
            "kind": "Certificate",
            "metadata": meta(name),
            "spec": {
                "dnsNames": service_dns_names(allocator_name, namespace),
                "issuerRef": {"kind": "Issuer", "name": ca_issuer},
                "usages": ["client auth", "server auth"],
                "secretName": name,
                "subject": {"organizationalUnits": [_OU]},
            },
        }

    return [
        {
            "apiVersion": CERT_MANAGER_API,
            "kind": "Issuer",
            "metadata": meta(self_signed),
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": CERT_MANAGER_API,
            "kind": "Issuer",
            "metadata": meta(ca_issuer),
            "spec": {"ca": {"secretName": ca}},
        },
        {
            "apiVersion": CERT_MANAGER_API,
            "kind": "Certificate",
            "metadata": meta(ca),
            "spec": {
                "isCA": True,
                "commonName": ca,
                "subject": {"organizationalUnits": [_OU]},
                "secretName": ca,
                "issuerRef": {"kind": "Issuer", "name": self_signed},
            },
        },
        leaf(naming.allocator_server_certificate(allocator_name)),
        leaf(naming.allocator_client_certificate(collector_name)),
    ]
