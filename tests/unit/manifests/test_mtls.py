"""Mutual TLS between the allocator and its collectors, as built: who provides the certificates, the Secrets'
names, the volumes and mounts on both workloads, the collector's https endpoint and tls block, the allocator's https
listener and Service port, cert-manager's objects, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from otel_operator.manifests import BuildOptions, build, defaults
from otel_operator.manifests.mtls import (
    CERT_MANAGER_API,
    certificate_source,
    issued_certificates,
)

from .common import allocating, built, collector, find, kinds

NO_CERT_MANAGER = BuildOptions(apis=frozenset())
WITH_CERT_MANAGER = BuildOptions(apis=frozenset({CERT_MANAGER_API}))
TLS_BLOCK = {"ca_file": "/tls/ca.crt", "cert_file": "/tls/tls.crt", "key_file": "/tls/tls.key", "reload_interval": "5m"}


def mtls(mode: str = "statefulset", **fields: Any) -> dict[str, Any]:
    extra = {"allocationStrategy": "per-node"} if mode == "daemonset" else {}
    return allocating(mode, mtls={"enabled": True, **fields}, **extra)


@pytest.mark.parametrize(
    ("fields", "options", "source"),
    [
        ({"enabled": True}, WITH_CERT_MANAGER, "cert-manager"),  # upstream's default: useCertManager true
        ({"enabled": True, "useCertManager": True}, WITH_CERT_MANAGER, "cert-manager"),
        ({"enabled": True, "useCertManager": True}, NO_CERT_MANAGER, "operator"),  # not installed: ours
        ({"enabled": True, "useCertManager": False}, WITH_CERT_MANAGER, "operator"),
        ({"enabled": True}, BuildOptions(), "cert-manager"),  # `render`: the cluster is not known
    ],
)
def test_who_provides_the_certificates(fields: dict[str, Any], options: BuildOptions, source: str) -> None:
    assert certificate_source(fields, options) == source


def _receiver(result: Any) -> dict[str, Any]:
    config_map = next(o for o in result.objects if o["kind"] == "ConfigMap" and "collector.yaml" in o["data"])
    return yaml.safe_load(config_map["data"]["collector.yaml"])["receivers"]["prometheus"]


@pytest.mark.parametrize(("mode", "workload"), [("statefulset", "StatefulSet"), ("daemonset", "DaemonSet")])
def test_the_collector_dials_https_with_its_client_certificate(mode: str, workload: str) -> None:
    result = built(mtls(mode), options=NO_CERT_MANAGER)
    target = _receiver(result)["target_allocator"]
    assert target["endpoint"] == "https://c-targetallocator:443"
    assert target["tls"] == TLS_BLOCK
    pod = find(result, workload, "c-collector")["spec"]["template"]["spec"]
    assert pod["volumes"][1] == {"name": "c-ta-client-cert", "secret": {"secretName": "c-ta-client-cert"}}
    mounts = pod["containers"][0]["volumeMounts"]
    assert mounts[:2] == [
        {"name": "otc-internal", "mountPath": "/conf"},
        {"name": "c-ta-client-cert", "mountPath": "/tls"},
    ]


def test_user_volumes_come_after_the_certificate() -> None:
    resource = mtls()
    resource["spec"] |= {
        "volumes": [{"name": "extra", "emptyDir": {}}],
        "volumeMounts": [{"name": "extra", "mountPath": "/x"}],
    }
    pod = find(built(resource, options=NO_CERT_MANAGER), "StatefulSet")["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["otc-internal", "c-ta-client-cert", "extra"]
    assert [m["name"] for m in pod["containers"][0]["volumeMounts"]] == ["otc-internal", "c-ta-client-cert", "extra"]


def test_the_allocator_serves_mutual_tls_on_8443_behind_443() -> None:
    result = built(mtls(), options=NO_CERT_MANAGER)
    config = yaml.safe_load(find(result, "ConfigMap", "c-targetallocator")["data"]["targetallocator.yaml"])
    assert config["https"] == {
        "enabled": True,
        "listen_addr": ":8443",
        "ca_file_path": "/tls/ca.crt",
        "tls_cert_file_path": "/tls/tls.crt",
        "tls_key_file_path": "/tls/tls.key",
    }
    pod = find(result, "Deployment", "c-targetallocator")["spec"]["template"]["spec"]
    assert pod["volumes"][1] == {"name": "c-ta-server-cert", "secret": {"secretName": "c-ta-server-cert"}}
    container = pod["containers"][0]
    assert container["volumeMounts"][1] == {"name": "c-ta-server-cert", "mountPath": "/tls"}
    assert {"name": "https", "containerPort": 8443, "protocol": "TCP"} in container["ports"]
    ports = find(result, "Service", "c-targetallocator")["spec"]["ports"]
    assert {"name": "targetallocation-https", "port": 443, "targetPort": "https"} in ports


def test_without_mtls_nothing_of_it_is_built() -> None:
    result = built(allocating(), options=WITH_CERT_MANAGER)
    assert "tls" not in _receiver(result)["target_allocator"]
    assert _receiver(result)["target_allocator"]["endpoint"] == "http://c-targetallocator:80"
    pod = find(result, "StatefulSet")["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["otc-internal"]
    assert not [k for k in kinds(result) if k[0] in ("Issuer", "Certificate")]


@pytest.mark.parametrize(
    ("options", "cert_manager"),
    [(WITH_CERT_MANAGER, True), (BuildOptions(), True), (NO_CERT_MANAGER, False)],
)
def test_cert_manager_objects_only_where_cert_manager_provides(options: BuildOptions, cert_manager: bool) -> None:
    result = built(mtls(), options=options)
    expected = [
        ("Issuer", "c-self-signed-issuer"),
        ("Issuer", "c-ca-issuer"),
        ("Certificate", "c-ca-cert"),
        ("Certificate", "c-ta-server-cert"),
        ("Certificate", "c-ta-client-cert"),
    ]
    found = [k for k in kinds(result) if k[0] in ("Issuer", "Certificate")]
    assert found == (expected if cert_manager else [])
    assert (issued_certificates(mtls(), options) is None) == cert_manager


def test_cert_manager_objects_as_upstream_writes_them() -> None:
    result = built(mtls(), options=WITH_CERT_MANAGER)
    assert find(result, "Issuer", "c-self-signed-issuer")["spec"] == {"selfSigned": {}}
    assert find(result, "Issuer", "c-ca-issuer")["spec"] == {"ca": {"secretName": "c-ca-cert"}}
    ca = find(result, "Certificate", "c-ca-cert")["spec"]
    assert ca["isCA"] is True
    assert ca["issuerRef"] == {"kind": "Issuer", "name": "c-self-signed-issuer"}
    server = find(result, "Certificate", "c-ta-server-cert")
    assert server["metadata"]["namespace"] == "ns"
    assert server["spec"]["secretName"] == "c-ta-server-cert"
    assert server["spec"]["issuerRef"] == {"kind": "Issuer", "name": "c-ca-issuer"}
    assert server["spec"]["dnsNames"] == [
        "c-targetallocator",
        "c-targetallocator.ns.svc",
        "c-targetallocator.ns.svc.cluster.local",
    ]
    assert server["spec"]["usages"] == ["client auth", "server auth"]
    # applied before the workloads that mount their Secrets
    order = [o["kind"] for o in result.allocator_objects]
    assert order.index("Certificate") < order.index("Deployment")


def test_the_operator_issues_three_secrets_named_like_upstream() -> None:
    want = issued_certificates(mtls(), NO_CERT_MANAGER)
    assert want is not None
    assert [(s.name, s.role) for s in want.secrets] == [
        ("c-ca-cert", "ca"),
        ("c-ta-server-cert", "server"),
        ("c-ta-client-cert", "client"),
    ]
    assert want.server.dns_names == (
        "c-targetallocator",
        "c-targetallocator.ns.svc",
        "c-targetallocator.ns.svc.cluster.local",
    )
    assert want.client.dns_names == ("c-collector", "c-collector.ns.svc")
    assert want.namespace == "ns"
    assert want.labels["app.kubernetes.io/component"] == "opentelemetry-targetallocator"


@pytest.mark.parametrize(
    "resource",
    [
        allocating(),  # mTLS off
        collector(mode="statefulset", targetAllocator={"enabled": False, "mtls": {"enabled": True}}),
        collector(labels={"opentelemetry.io/target-allocator": "shared"}, targetAllocator={"mtls": {"enabled": True}}),
    ],
)
def test_nothing_to_issue(resource: dict[str, Any]) -> None:
    assert issued_certificates(resource, NO_CERT_MANAGER) is None


@pytest.mark.parametrize(
    ("resource", "field", "words"),
    [
        (
            mtls(useCertManager=False, tls={"serverCertificate": {"secretName": "mine"}}),
            "spec.targetAllocator.mtls.tls",
            "user-provided certificates",
        ),
        (
            {
                "apiVersion": "opentelemetry.io/v1alpha1",
                "kind": "TargetAllocator",
                "metadata": {"name": "ta", "namespace": "ns"},
                "spec": {"mtls": {"enabled": True}, "scrapeConfigs": [{"job_name": "x"}]},
            },
            "spec.mtls.enabled",
            "standalone TargetAllocator",
        ),
    ],
)
def test_refused_by_name(resource: dict[str, Any], field: str, words: str) -> None:
    result = build(resource, NO_CERT_MANAGER)
    assert result.objects == ()
    assert [p.field for p in result.problems] == [field]
    assert words in result.problems[0].message


@pytest.mark.parametrize("options", [NO_CERT_MANAGER, WITH_CERT_MANAGER])
def test_mtls_is_no_longer_refused(options: BuildOptions) -> None:
    assert build(mtls(), options).ok


def test_the_embedded_allocator_resource_builds_with_mtls() -> None:
    """The collector's TargetAllocator resource (owned by it) is reconciled on its own: it must not be refused as a
    standalone one, and its Deployment mounts the serving certificate."""
    owner = mtls()
    ta = defaults.embedded_allocator(defaults.collector(owner))
    ta["metadata"]["ownerReferences"] = [
        {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector", "name": "c", "controller": True}
    ]
    result = built(ta, options=NO_CERT_MANAGER, collector=owner)
    pod = find(result, "Deployment", "c-targetallocator")["spec"]["template"]["spec"]
    assert pod["volumes"][1] == {"name": "c-ta-server-cert", "secret": {"secretName": "c-ta-server-cert"}}


def test_certificates_given_to_a_disabled_mtls_are_a_warning_not_silence() -> None:
    resource = mtls(enabled=False, tls={"serverCertificate": {"secretName": "mine"}})
    result = build(resource, NO_CERT_MANAGER)
    assert result.ok
    assert any("spec.targetAllocator.mtls.tls" in w and "mTLS is not enabled" in w for w in result.warnings), (
        result.warnings
    )
