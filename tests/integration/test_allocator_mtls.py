"""Allocator<->collector mutual TLS on a real API server, without cert-manager: the running operator issues the CA,
the allocator's serving certificate and the collectors' client certificate as Secrets owned by the collector, mounts
them, and points the collector at the https endpoint; a second reconcile rewrites no Secret; an expired certificate
is renewed (and only it); turning mTLS off prunes the Secrets."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from cryptography import x509
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from otel_operator.admission import certs
from otel_operator.manifests import BuildOptions
from otel_operator.reconcile.collector import reconcile
from otel_operator.reconcile.desired import OWNER_UID_LABEL
from otel_operator.reconcile.discovery import served_apis
from otel_operator.reconcile.kube import Kube
from otel_operator.reconcile.mtls import issue_client
from tests.integration.conftest import collectors_in, wait_for

pytestmark = pytest.mark.integration

NS = "allocator-mtls-test"
GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
MERGE = "application/merge-patch+json"
SECRETS = ("secure-ca-cert", "secure-ta-server-cert", "secure-ta-client-cert")


def secure_collector() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "secure", "namespace": NS},
        "spec": {
            "mode": "statefulset",
            "targetAllocator": {"enabled": True, "mtls": {"enabled": True}},
            "config": {
                "receivers": {
                    "prometheus": {
                        "config": {
                            "scrape_configs": [
                                {"job_name": "app", "static_configs": [{"targets": ["10.0.0.1:8080"]}]},
                            ]
                        }
                    }
                },
                "exporters": {"debug": {}},
                "service": {"pipelines": {"metrics": {"receivers": ["prometheus"], "exporters": ["debug"]}}},
            },
        },
    }


@pytest.fixture
async def custom(api: ApiClient, operator: None) -> AsyncIterator[client.CustomObjectsApi]:
    async with collectors_in(api, NS) as custom:
        yield custom


async def secret(api: ApiClient, name: str) -> Any:
    try:
        return await client.CoreV1Api(api).read_namespaced_secret(name, NS)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


async def all_secrets(api: ApiClient) -> dict[str, Any] | None:
    found = {name: await secret(api, name) for name in SECRETS}
    return found if all(found.values()) else None


def versions(found: dict[str, Any]) -> dict[str, str]:
    return {name: s.metadata.resource_version for name, s in found.items()}


def pem(found: Any, key: str) -> bytes:
    return base64.b64decode(found.data[key])


async def reconcile_now(api: ApiClient, custom: client.CustomObjectsApi) -> None:
    """One reconcile, as the operator's timer would run it (same options: the APIs the cluster serves)."""
    kube = Kube(api)
    owner = await custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "secure")
    outcome = await reconcile(kube, owner, BuildOptions(apis=await served_apis(kube)))
    assert not outcome.problems, outcome.problems


async def test_the_operator_issues_mounts_keeps_renews_and_prunes_the_certificates(
    api: ApiClient, custom: client.CustomObjectsApi
) -> None:
    owner = await custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, secure_collector())
    uid = owner["metadata"]["uid"]
    found = await wait_for(lambda: all_secrets(api), within=60, what="the three mTLS Secrets")

    # issued: owned by the collector, the CA's key only in the CA's Secret, the leaves chained to the CA
    for s in found.values():
        assert s.metadata.labels[OWNER_UID_LABEL] == uid
        assert [(r.kind, r.uid) for r in s.metadata.owner_references] == [("OpenTelemetryCollector", uid)]
    assert sorted(found["secure-ca-cert"].data) == ["ca.crt", "ca.key"]
    ca = certs.load_certs(pem(found["secure-ca-cert"], "ca.crt"))[0]
    for leaf in ("secure-ta-server-cert", "secure-ta-client-cert"):
        assert found[leaf].type == "kubernetes.io/tls"
        assert sorted(found[leaf].data) == ["ca.crt", "tls.crt", "tls.key"]
        certs.load_certs(pem(found[leaf], "tls.crt"))[0].verify_directly_issued_by(ca)
    assert "secure-targetallocator.allocator-mtls-test.svc" in certs.sans_of(
        pem(found["secure-ta-server-cert"], "tls.crt")
    )

    # mounted, and the collector dials https
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)

    async def statefulset() -> Any:
        try:
            return await apps.read_namespaced_stateful_set("secure-collector", NS)
        except ApiException:
            return None

    async def deployment() -> Any:
        try:
            return await apps.read_namespaced_deployment("secure-targetallocator", NS)
        except ApiException:
            return None

    collector_pod = (await wait_for(statefulset, within=30, what="the StatefulSet")).spec.template.spec
    assert {(v.name, v.secret.secret_name) for v in collector_pod.volumes if v.secret} == {
        ("secure-ta-client-cert", "secure-ta-client-cert")
    }
    assert ("secure-ta-client-cert", "/tls") in {
        (m.name, m.mount_path) for m in collector_pod.containers[0].volume_mounts
    }
    allocator_pod = (await wait_for(deployment, within=30, what="the allocator's Deployment")).spec.template.spec
    assert {(v.name, v.secret.secret_name) for v in allocator_pod.volumes if v.secret} == {
        ("secure-ta-server-cert", "secure-ta-server-cert")
    }
    config_maps = await core.list_namespaced_config_map(NS)
    collector_yaml = next(c for c in config_maps.items if "collector.yaml" in (c.data or {})).data["collector.yaml"]
    target = yaml.safe_load(collector_yaml)["receivers"]["prometheus"]["target_allocator"]
    assert target["endpoint"] == "https://secure-targetallocator:443"
    assert target["tls"]["cert_file"] == "/tls/tls.crt"
    allocator_yaml = (await core.read_namespaced_config_map("secure-targetallocator", NS)).data
    assert yaml.safe_load(allocator_yaml["targetallocator.yaml"])["https"]["listen_addr"] == ":8443"
    service = await core.read_namespaced_service("secure-targetallocator", NS)
    assert (443, "https") in {(p.port, p.target_port) for p in service.spec.ports}

    # a second reconcile rewrites no Secret
    before = versions(found)
    await reconcile_now(api, custom)
    after = await all_secrets(api)
    assert after is not None
    assert versions(after) == before

    # an expired client certificate is renewed, with the same CA, and nothing else is touched
    ca_pair = certs.KeyPair(pem(found["secure-ca-cert"], "ca.crt"), pem(found["secure-ca-cert"], "ca.key"))
    old = issue_client(ca_pair, ["secure-collector"], datetime.now(UTC) - timedelta(days=400), timedelta(days=1))
    expired = {"ca.crt": pem(found["secure-ca-cert"], "ca.crt"), "tls.crt": old.cert_pem, "tls.key": old.key_pem}
    stale = await core.read_namespaced_secret("secure-ta-client-cert", NS)
    stale.data = certs.encode_secret_data(expired)
    await core.replace_namespaced_secret("secure-ta-client-cert", NS, stale)
    await reconcile_now(api, custom)
    renewed = await all_secrets(api)
    assert renewed is not None
    client_cert: x509.Certificate = certs.load_certs(pem(renewed["secure-ta-client-cert"], "tls.crt"))[0]
    assert client_cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=300)
    client_cert.verify_directly_issued_by(ca)
    unchanged = {k: v for k, v in versions(renewed).items() if k != "secure-ta-client-cert"}
    assert unchanged == {k: v for k, v in before.items() if k != "secure-ta-client-cert"}

    # mTLS off: the running operator prunes them, and the collector goes back to http
    await custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "secure",
        {"spec": {"targetAllocator": {"mtls": {"enabled": False}}}},
        _content_type=MERGE,
    )

    async def pruned() -> bool:
        return [await secret(api, name) for name in SECRETS] == [None, None, None]

    await wait_for(pruned, within=60, what="the mTLS Secrets pruned")

    async def plain() -> bool:
        pod = (await apps.read_namespaced_stateful_set("secure-collector", NS)).spec.template.spec
        return not [v for v in pod.volumes if v.secret]

    await wait_for(plain, within=30, what="the collector without its client certificate")
