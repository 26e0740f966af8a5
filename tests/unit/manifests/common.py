"""Resources for the builder tests: small, valid, and changed one field at a time."""

from __future__ import annotations

import copy
from typing import Any

from otel_operator.manifests import Build, build

BASE_CONFIG: dict[str, Any] = {
    "receivers": {"otlp": {"protocols": {"grpc": {}, "http": {}}}},
    "exporters": {"debug": {}},
    "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}},
}

SCRAPING_CONFIG: dict[str, Any] = {
    "receivers": {
        "prometheus": {
            "config": {
                "scrape_configs": [
                    {"job_name": "app", "scrape_interval": "10s", "static_configs": [{"targets": ["10.0.0.1:8080"]}]}
                ]
            }
        }
    },
    "exporters": {"debug": {}},
    "service": {"pipelines": {"metrics": {"receivers": ["prometheus"], "exporters": ["debug"]}}},
}


def collector(
    name: str = "c",
    namespace: str = "ns",
    *,
    config: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": meta,
        "spec": {"config": copy.deepcopy(config if config is not None else BASE_CONFIG), **spec},
    }


def allocating(mode: str = "statefulset", **allocator: Any) -> dict[str, Any]:
    """A collector with its target allocator enabled and one static scrape job."""
    return collector(mode=mode, config=SCRAPING_CONFIG, targetAllocator={"enabled": True, **allocator})


def built(resource: dict[str, Any], **kwargs: Any) -> Build:
    """A build expected to succeed."""
    result = build(resource, **kwargs)
    assert not result.problems, [str(p) for p in result.problems]
    return result


def everything(result: Build) -> list[dict[str, Any]]:
    """The objects of the resource, then those of the TargetAllocator resource it owns (as `render` prints them)."""
    return [*result.objects, *result.allocator_objects]


def find(result: Build, kind: str, name: str | None = None) -> dict[str, Any]:
    every = everything(result)
    matches = [o for o in every if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"{kind} {name}: {[o['metadata']['name'] for o in every if o['kind'] == kind]}"
    return matches[0]


def kinds(result: Build) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in everything(result)]
