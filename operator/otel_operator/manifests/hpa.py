"""The collector's HorizontalPodAutoscaler (spec.autoscaler): it scales the OpenTelemetryCollector through its
scale subresource, so the HPA writes the collector's spec.replicas and the workload follows it (workload.replicas).

As upstream (0.158), it is built in every mode the operator runs pods for (deployment, statefulset, daemonset),
named `<name>-collector`, with the metrics in upstream's order: memory utilization, CPU utilization, then the
`Pods` metrics of spec.autoscaler.metrics. The defaults (minReplicas = replicas, targetCPUUtilization 90 when no
target is set) are applied in defaults.py, as upstream's webhook does, only when maxReplicas is set.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Final

from otel_operator.manifests import naming
from otel_operator.manifests.model import BuildOptions, Object
from otel_operator.manifests.params import CollectorParams
from otel_operator.manifests.problems import Problems

SCALE_TARGET_API: Final = "opentelemetry.io/v1beta1"
SCALE_TARGET_KIND: Final = "OpenTelemetryCollector"
# (resource name, spec.autoscaler key), in the order upstream lists them
_RESOURCE_TARGETS: Final = (("memory", "targetMemoryUtilization"), ("cpu", "targetCPUUtilization"))
_MAX_STABILIZATION: Final = 3600  # seconds; the HPA API's own limit
_UPSTREAM: Final = "the OpenTelemetry Spec autoscale configuration is incorrect"


def _autoscaling(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """spec.autoscaler when it asks for an HPA: upstream would create one without maxReplicas too, with
    maxReplicas 0, which the API server refuses; so none is built then (check_collector warns)."""
    autoscaler = spec.get("autoscaler")
    if isinstance(autoscaler, Mapping) and autoscaler.get("maxReplicas") is not None:
        return autoscaler
    return None


def _metrics(autoscaler: Mapping[str, Any]) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = [
        {
            "type": "Resource",
            "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": autoscaler[key]}},
        }
        for resource, key in _RESOURCE_TARGETS
        if autoscaler.get(key) is not None
    ]
    for metric in autoscaler.get("metrics") or []:
        if isinstance(metric, Mapping) and metric.get("type") == "Pods":  # upstream copies only these
            metrics.append({"type": "Pods", "pods": copy.deepcopy(metric.get("pods"))})
    return metrics


def collector_hpa(p: CollectorParams) -> Object | list[Object] | None:
    autoscaler = _autoscaling(p.spec)
    if autoscaler is None or p.mode == "sidecar":  # a sidecar's pods belong to the application's workload
        return None
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": SCALE_TARGET_API, "kind": SCALE_TARGET_KIND, "name": p.name},
    }
    if autoscaler.get("minReplicas") is not None:
        spec["minReplicas"] = autoscaler["minReplicas"]
    spec["maxReplicas"] = autoscaler["maxReplicas"]
    metrics = _metrics(autoscaler)
    if metrics:
        spec["metrics"] = metrics
    if autoscaler.get("behavior"):
        spec["behavior"] = copy.deepcopy(dict(autoscaler["behavior"]))
    name = naming.collector(p.name)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": p.resource.metadata(name, p.labels(name)),
        "spec": spec,
    }


# --- checks ---------------------------------------------------------------------------------------------------------

_QUANTITY: Final = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$")
_SUFFIX: Final = {
    "": Fraction(1),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}


def quantity(value: Any) -> Fraction | None:
    """A Kubernetes quantity (`5`, `500m`, `1Ki`, `1e3`) as an exact number; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Fraction(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    number, suffix, exponent = match.groups()
    scale = Fraction(10) ** int(exponent) if exponent is not None else _SUFFIX[suffix or ""]
    return Fraction(number) * scale


def _whole_and_positive(value: Any) -> bool:
    """Upstream's test: the quantity is a whole number (Quantity.AsInt64 succeeds) of at least 1."""
    number = quantity(value)
    return number is not None and number.denominator == 1 and number >= 1


def _check_at_least_one(autoscaler: Mapping[str, Any], found: Problems) -> None:
    """Upstream's CRD declares minimum 1 for these (ours does not, so they are checked here)."""
    for key in ("minReplicas", "maxReplicas", "targetCPUUtilization", "targetMemoryUtilization"):
        value = autoscaler.get(key)
        if isinstance(value, int) and value < 1:
            found.error(f"spec.autoscaler.{key}", f"{value} is invalid: should be greater than or equal to 1")


def _check_behavior(behavior: Any, found: Problems) -> None:
    if not isinstance(behavior, Mapping):
        return
    for direction in ("scaleUp", "scaleDown"):
        window = (behavior.get(direction) or {}).get("stabilizationWindowSeconds")
        if isinstance(window, int) and not 0 <= window <= _MAX_STABILIZATION:
            found.error(
                f"spec.autoscaler.behavior.{direction}.stabilizationWindowSeconds",
                f"{_UPSTREAM}, {direction}.stabilizationWindowSeconds should be >=0 and <=3600; "
                f"{window} is out of range: use 0 to 3600 seconds",
            )


def _check_metrics(metrics: Any, found: Problems) -> None:
    for index, metric in enumerate(metrics or []):
        field = f"spec.autoscaler.metrics[{index}]"
        kind = (metric or {}).get("type")
        if kind != "Pods":
            found.error(
                f"{field}.type",
                f"{_UPSTREAM}, metric type unsupported. Expected metric of source type Pod; {kind!r} cannot be "
                "used here: use targetCPUUtilization / targetMemoryUtilization for resource metrics, or type Pods",
            )
            continue
        target = ((metric.get("pods") or {}).get("target")) or {}
        target_type = target.get("type")
        if target_type == "AverageValue":
            if not _whole_and_positive(target.get("averageValue")):
                found.error(
                    f"{field}.pods.target.averageValue",
                    f"{_UPSTREAM}, average value should be greater than 0; {target.get('averageValue')!r} is not: "
                    "use a whole quantity of at least 1",
                )
        elif target_type == "Value":
            if not _whole_and_positive(target.get("value")):
                found.error(
                    f"{field}.pods.target.value",
                    f"{_UPSTREAM}, value should be greater than 0; {target.get('value')!r} is not: use a whole "
                    "quantity of at least 1",
                )
        else:
            found.error(
                f"{field}.pods.target.type",
                f"{_UPSTREAM}, invalid pods target type {target_type!r}: use AverageValue or Value",
            )


def check_collector(spec: Mapping[str, Any], options: BuildOptions, found: Problems) -> None:
    """Upstream's webhook rules for spec.autoscaler (and its CRD's minimums), on the defaulted spec."""
    autoscaler = spec.get("autoscaler")
    if not isinstance(autoscaler, Mapping):
        return
    _check_at_least_one(autoscaler, found)
    low, high, replicas = autoscaler.get("minReplicas"), autoscaler.get("maxReplicas"), spec.get("replicas")
    if high is None:
        if low is not None:
            found.error(
                "spec.autoscaler.maxReplicas",
                "spec.maxReplica must be set when spec.minReplica is set: spec.autoscaler.maxReplicas is required "
                "with minReplicas; set it, or remove spec.autoscaler.minReplicas",
            )
        elif any(value not in (None, {}, []) for value in autoscaler.values()):
            found.warn(
                "spec.autoscaler",
                "ignored without maxReplicas: no HorizontalPodAutoscaler is created; set "
                "spec.autoscaler.maxReplicas to autoscale the collector",
            )
        return
    if isinstance(replicas, int) and isinstance(high, int) and replicas > high:
        found.error(
            "spec.replicas",
            f"{_UPSTREAM}, replicas must not be greater than maxReplicas: {replicas} is more than "
            f"spec.autoscaler.maxReplicas ({high}); lower spec.replicas or raise spec.autoscaler.maxReplicas",
        )
    if isinstance(low, int) and isinstance(high, int) and low > high:
        found.error(
            "spec.autoscaler.minReplicas",
            f"{_UPSTREAM}, minReplicas must not be greater than maxReplicas: {low} is more than "
            f"spec.autoscaler.maxReplicas ({high}); lower spec.autoscaler.minReplicas or raise maxReplicas",
        )
    _check_behavior(autoscaler.get("behavior"), found)
    _check_metrics(autoscaler.get("metrics"), found)
    if spec.get("mode") == "daemonset":
        # upstream creates the HPA for a daemonset too; it can only change spec.replicas, which a DaemonSet ignores
        found.warn(
            "spec.autoscaler",
            "has no effect in mode daemonset: a DaemonSet runs one pod per node whatever spec.replicas says, so "
            "the HorizontalPodAutoscaler (created, as upstream does) cannot scale it; remove spec.autoscaler, or "
            "use mode deployment or statefulset to autoscale",
        )


def check_allocator(spec: Mapping[str, Any], prefix: str, options: BuildOptions, found: Problems) -> None:
    """Problems of a (defaulted) TargetAllocator spec (prefix: "spec", or "spec.targetAllocator" when embedded)."""
