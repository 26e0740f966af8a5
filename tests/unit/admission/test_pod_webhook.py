"""The pod webhook never refuses a pod: whatever fails while deciding its sidecar, the answer lets it through."""

from __future__ import annotations

from typing import Any

import kopf

from otel_operator.admission import names
from otel_operator.admission.handlers import register
from otel_operator.manifests import BuildOptions
from otel_operator.reconcile.handlers import Context
from otel_operator.reconcile.kube import KubeError


class BrokenKube:
    """Every API call fails, as during an API server hiccup or with missing permissions."""

    api: Any = None

    async def get(self, path: str) -> dict[str, Any] | None:
        raise KubeError(503, "GET", path, "the server is currently unable to handle the request")

    async def list(self, path: str, label_selector: str) -> list[dict[str, Any]]:
        raise KubeError(403, "GET", path, "forbidden")


def pod_handler(ctx: Context) -> Any:
    registry = register(kopf.OperatorRegistry(), ctx)
    handlers = [h for h in registry._webhooks.get_all_handlers() if h.id == names.MUTATE_POD]
    assert len(handlers) == 1
    return handlers[0].fn


async def test_an_api_error_lets_the_pod_through_with_a_warning() -> None:
    ctx = Context(BuildOptions())
    ctx.kube = BrokenKube()  # type: ignore[assignment]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "app-", "namespace": "apps", "annotations": {names.INJECT_ANNOTATION: "true"}},
        "spec": {"containers": [{"name": "app", "image": "app"}]},
    }
    patch = kopf.Patch(body=kopf.Body(pod))
    warnings: list[str] = []
    await pod_handler(ctx)(body=kopf.Body(pod), patch=patch, warnings=warnings)  # no exception: allowed
    assert not patch
    assert len(warnings) == 1
    assert warnings[0].startswith("pod apps/app-* is created without a sidecar: the operator could not decide it")
    assert "503" in warnings[0]
    text = ctx.metrics.exposition().decode()
    assert f'otel_operator_admission_reviews_total{{result="error",webhook="{names.MUTATE_POD}"}} 1.0' in text
