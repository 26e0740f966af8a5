"""Every label and annotation the operator puts on objects, with upstream's keys and values (operator reference §3.2,
§3.3), so selectors, dashboards and tooling written for the upstream operator match these objects too."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Final

from otel_operator.manifests import naming

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
INSTANCE: Final = "app.kubernetes.io/instance"
PART_OF: Final = "app.kubernetes.io/part-of"
COMPONENT: Final = "app.kubernetes.io/component"
NAME: Final = "app.kubernetes.io/name"
VERSION: Final = "app.kubernetes.io/version"

OPERATOR: Final = "opentelemetry-operator"
PART_OF_VALUE: Final = "opentelemetry"
COLLECTOR_COMPONENT: Final = "opentelemetry-collector"
ALLOCATOR_COMPONENT: Final = "opentelemetry-targetallocator"

SERVICE_TYPE: Final = "operator.opentelemetry.io/collector-service-type"
HEADLESS_SERVICE: Final = "operator.opentelemetry.io/collector-headless-service"
MONITORING_SERVICE: Final = "operator.opentelemetry.io/collector-monitoring-service"
OPENSHIFT_SERVING_CERT: Final = "service.beta.openshift.io/serving-cert-secret-name"

# A collector carrying this label uses the named TargetAllocator instead of an embedded one.
TARGET_ALLOCATOR_LABEL: Final = "opentelemetry.io/target-allocator"

CONFIG_HASH: Final = "opentelemetry-operator-config/sha256"
ALLOCATOR_CONFIG_HASH: Final = "opentelemetry-targetallocator-config/hash"
PROMETHEUS_SCRAPE: Final = "prometheus.io/scrape"
PROMETHEUS_PORT: Final = "prometheus.io/port"
PROMETHEUS_PATH: Final = "prometheus.io/path"
PROMETHEUS_ADDED: Final = "operator.opentelemetry.io/prometheus-annotations-added"

# Resource annotations never copied to children. Upstream's default filter drops kubectl's copy of the last applied
# object; ours also drops kopf's bookkeeping (it changes on every handled event and would roll the pods each time).
DEFAULT_ANNOTATION_FILTERS: Final = (
    r"^kubectl\.kubernetes\.io/last-applied-configuration$",
    r"^otel-operator\.opentelemetry\.io/",
    r"^kopf\.zalando\.org/",
)


def selector_labels(namespace: str, name: str, component: str) -> dict[str, str]:
    """The labels every selector uses; immutable on workloads, so nothing here may ever change for a resource."""
    return {
        MANAGED_BY: OPERATOR,
        INSTANCE: naming.truncate("%s.%s", namespace, name),
        PART_OF: PART_OF_VALUE,
        COMPONENT: component,
    }


def version_label(image: str) -> str:
    """`app.kubernetes.io/version` from the image *given in the resource* (not the default image): the tag, the part
    before `@sha256` for a digest, `latest` when there is no tag (or no image)."""
    parts = image.split(":")
    if len(parts) == 2:
        return naming.truncate("%s", parts[1])
    if len(parts) == 3:
        return next((p.removesuffix("@sha256") for p in parts if p.endswith("@sha256")), "")
    return "latest"


def _kept(key: str, filters: Iterable[str]) -> bool:
    return not any(re.search(pattern, key) for pattern in filters)


def object_labels(
    resource_labels: Mapping[str, str],
    *,
    namespace: str,
    name: str,
    object_name: str,
    image: str,
    component: str,
    filters: Iterable[str] = (),
) -> dict[str, str]:
    """The full labels of one object: the resource's own (minus `filters`), the selector labels, the version, and
    `app.kubernetes.io/name` = `object_name` unless the resource sets that label itself."""
    filters = tuple(filters)
    out = {k: v for k, v in resource_labels.items() if _kept(k, filters)}
    out.update(selector_labels(namespace, name, component))
    out[VERSION] = version_label(image)
    out.setdefault(NAME, object_name)
    return dict(sorted(out.items()))


def allocator_selector_labels(
    resource_labels: Mapping[str, str], namespace: str, name: str, filters: Iterable[str] = ()
) -> dict[str, str]:
    """The allocator's selector: the selector labels plus `app.kubernetes.io/name` (the resource's own when set and
    not filtered out, as in `object_labels`: the selector must match the pod template's labels)."""
    out = selector_labels(namespace, name, ALLOCATOR_COMPONENT)
    own = resource_labels.get(NAME)
    out[NAME] = own if own is not None and _kept(NAME, tuple(filters)) else naming.allocator(name)
    return dict(sorted(out.items()))


def filter_annotations(annotations: Mapping[str, str], filters: Iterable[str]) -> dict[str, str]:
    filters = tuple(filters)
    return {k: v for k, v in sorted(annotations.items()) if _kept(k, filters)}


def selector_string(labels: Mapping[str, str]) -> str:
    """A label selector in the API's string form (`a=b,c=d`, sorted), as the scale subresource reports it."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
