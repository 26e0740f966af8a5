"""A small raw REST client over kubernetes-asyncio's ApiClient: plain JSON dicts in and out, any kind.

The generated typed clients would turn every object into a model and back; the reconciler compares and writes
plain manifests, so it talks JSON. Authentication, TLS and proxies are the ApiClient's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

FIELD_MANAGER: Final = "otel-operator"


@dataclass(frozen=True, slots=True)
class Kind:
    group: str
    version: str
    plural: str
    namespaced: bool = True
    # Served only where an optional API is installed (prometheus-operator, OpenShift, Gateway API): listed and
    # watched only when the cluster serves `api_version`.
    optional: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection(self, namespace: str | None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def item(self, namespace: str | None, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


# Every kind the operator writes, by `kind`.
KINDS: Final[Mapping[str, Kind]] = {
    "ServiceAccount": Kind("", "v1", "serviceaccounts"),
    "ConfigMap": Kind("", "v1", "configmaps"),
    "Service": Kind("", "v1", "services"),
    "StatefulSet": Kind("apps", "v1", "statefulsets"),
    "Deployment": Kind("apps", "v1", "deployments"),
    "DaemonSet": Kind("apps", "v1", "daemonsets"),
    "ClusterRole": Kind("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False),
    "ClusterRoleBinding": Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False),
    "Role": Kind("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": Kind("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "PodDisruptionBudget": Kind("policy", "v1", "poddisruptionbudgets"),
    "HorizontalPodAutoscaler": Kind("autoscaling", "v2", "horizontalpodautoscalers"),
    "NetworkPolicy": Kind("networking.k8s.io", "v1", "networkpolicies"),
    "Ingress": Kind("networking.k8s.io", "v1", "ingresses"),
    "TargetAllocator": Kind("opentelemetry.io", "v1alpha1", "targetallocators"),
    # cert-manager's, for the allocator's mTLS where it is installed (else the operator issues the certificates)
    "Issuer": Kind("cert-manager.io", "v1", "issuers", optional=True),
    "Certificate": Kind("cert-manager.io", "v1", "certificates", optional=True),
    "ServiceMonitor": Kind("monitoring.coreos.com", "v1", "servicemonitors", optional=True),
    "PodMonitor": Kind("monitoring.coreos.com", "v1", "podmonitors", optional=True),
    "Route": Kind("route.openshift.io", "v1", "routes", optional=True),
    "HTTPRoute": Kind("gateway.networking.k8s.io", "v1", "httproutes", optional=True),
}
# The optional APIs whose objects the operator may build (BuildOptions.apis).
OPTIONAL_APIS: Final = frozenset(k.api_version for k in KINDS.values() if k.optional)


class KubeError(Exception):
    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.message = message  # the API server's own words


def kind_of(obj: Mapping[str, Any]) -> Kind:
    try:
        return KINDS[str(obj["kind"])]
    except KeyError:
        raise ValueError(f"the operator does not manage objects of kind {obj.get('kind')!r}") from None


def item_path(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return kind_of(obj).item(meta.get("namespace"), meta["name"])


class Kube:
    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One call; the decoded JSON answer. KubeError for any status >= 400 (with the API's message)."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = orjson.loads(orjson.dumps(body))  # plain JSON types only: the client serialises it again
        try:
            response = await self.api.call_api(
                path,
                method,
                query_params=params or [],
                header_params=headers,
                body=data,
                auth_settings=["BearerToken"],
                _preload_content=False,
            )
        except ApiException as err:
            raise KubeError(err.status or 0, method, path, _message(err.body) or str(err.reason)) from None
        try:
            raw = await response.read()
        finally:
            response.release()
        if response.status >= 400:
            raise KubeError(response.status, method, path, _message(raw) or str(response.reason))
        return orjson.loads(raw) if raw else None

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.request("GET", path)
        except KubeError as err:
            if err.status == 404:
                return None
            raise
        return found

    async def list(self, path: str, label_selector: str) -> list[dict[str, Any]]:
        answer = await self.request("GET", path, params=[("labelSelector", label_selector)])
        items: list[dict[str, Any]] = answer.get("items") or []
        return items

    async def apply(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply as our field manager, taking over fields others set (we own these objects). `dry_run`:
        the API server validates and admits it (webhooks included) but stores nothing."""
        params = [("fieldManager", FIELD_MANAGER), ("force", "true"), *([("dryRun", "All")] if dry_run else [])]
        out: dict[str, Any] = await self.request(
            "PATCH", item_path(obj), params=params, body=obj, content_type="application/apply-patch+yaml"
        )
        return out

    async def delete(self, obj: Mapping[str, Any], propagation: str = "Background") -> None:
        try:
            await self.request("DELETE", item_path(obj), params=[("propagationPolicy", propagation)])
        except KubeError as err:
            if err.status != 404:
                raise


def _message(raw: object) -> str:
    if isinstance(raw, bytes | str):
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw.decode(errors="replace")[:300] if isinstance(raw, bytes) else raw[:300]
        if isinstance(decoded, dict):
            return str(decoded.get("message") or decoded.get("reason") or "")
    return ""
