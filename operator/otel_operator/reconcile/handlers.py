"""kopf handlers for OpenTelemetryCollector.

Thin on purpose: they read the event, call pure code, and write the result back. Registration goes into a
registry the caller owns, so an operator (or a test) can build its own without module-level state.
"""

from __future__ import annotations

from typing import Any

import kopf

GROUP, VERSION, PLURAL = "opentelemetry.io", "v1beta1", "opentelemetrycollectors"
# kopf keeps its bookkeeping in annotations under our own prefix: our status schema is closed, so the API server
# would prune a `status.kopf` stanza and kopf would lose track of what it had handled.
STORAGE_PREFIX = "otel-operator.opentelemetry.io"


def configure(settings: kopf.OperatorSettings) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=STORAGE_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=STORAGE_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = 20  # INFO and above become Kubernetes Events
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


def observe_collector(meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
    """Record that this generation of the spec was seen."""
    patch.status["observedGeneration"] = meta.get("generation")


def register(registry: kopf.OperatorRegistry) -> kopf.OperatorRegistry:
    for decorator in (kopf.on.create, kopf.on.update, kopf.on.resume):
        decorator(GROUP, VERSION, PLURAL, id="observe", registry=registry)(observe_collector)

    @kopf.on.startup(registry=registry)
    def _settings(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings)

    return registry
