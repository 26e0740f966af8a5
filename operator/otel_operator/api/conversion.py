"""OpenTelemetryCollector `opentelemetry.io/v1alpha1` → `v1beta1`, field for field as upstream's conversion webhook
(operator reference §1.3): the `config` string parsed into the structured config, `minReplicas`/`maxReplicas` folded
into `autoscaler`, `updateStrategy` renamed `daemonSetUpdateStrategy`, the allocator's monitor selector maps turned
into label selectors, and every other field moved as upstream moves it (and only the sub-fields upstream carries).

Two decisions differ from upstream, on purpose:

- A `config` that is not YAML (or not a mapping) is an error naming `spec.config` and the YAML problem. Upstream's
  webhook must never fail, so it silently stores an empty config, and the collector then runs without pipelines.
- What upstream's conversion drops without a word (fields v1alpha1 does not have, config sections v1beta1 does not
  have, an unknown allocation or filter strategy) is dropped here too, with a warning naming the field.

It is a pure function of the resource: the CLI uses it today (`otel-operator check resources --convert`), the
conversion webhook will later.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml

from otel_operator import yamlsafe
from otel_operator.api.crds import PROBE_TIMINGS

GROUP: Final = "opentelemetry.io"
V1ALPHA1: Final = f"{GROUP}/v1alpha1"
V1BETA1: Final = f"{GROUP}/v1beta1"
KIND: Final = "OpenTelemetryCollector"

# spec fields v1alpha1 has that move to v1beta1 unchanged (upstream copies them as they are)
_AS_IS: Final = frozenset(
    {
        "managementState",
        "resources",
        "resizePolicy",
        "nodeSelector",
        "args",
        "replicas",
        "securityContext",
        "podSecurityContext",
        "podAnnotations",
        "mode",
        "serviceAccount",
        "image",
        "upgradeStrategy",
        "imagePullPolicy",
        "volumeMounts",
        "env",
        "envFrom",
        "volumeClaimTemplates",
        "tolerations",
        "volumes",
        "hostNetwork",
        "shareProcessNamespace",
        "priorityClassName",
        "affinity",
        "lifecycle",
        "terminationGracePeriodSeconds",
        "initContainers",
        "additionalContainers",
        "topologySpreadConstraints",
        "trafficDistribution",
    }
)
_AUTOSCALER: Final = (
    "minReplicas",
    "maxReplicas",
    "behavior",
    "metrics",
    "targetCPUUtilization",
    "targetMemoryUtilization",
)
_PDB: Final = ("minAvailable", "maxUnavailable")
_PORT: Final = ("name", "protocol", "appProtocol", "port", "targetPort", "nodePort", "hostPort")
_INGRESS: Final = ("type", "ruleType", "hostname", "annotations", "tls", "ingressClassName", "route")
_ALLOCATOR_AS_IS: Final = (
    "replicas",
    "nodeSelector",
    "resources",
    "serviceAccount",
    "image",
    "enabled",
    "affinity",
    "securityContext",
    "podSecurityContext",
    "topologySpreadConstraints",
    "tolerations",
    "env",
)
_ALLOCATION_STRATEGIES: Final = ("consistent-hashing", "least-weighted", "per-node")
_CONFIG_SECTIONS: Final = ("receivers", "exporters", "processors", "connectors", "extensions", "service")
_SERVICE_KEYS: Final = ("extensions", "telemetry", "pipelines")
_PIPELINE_KEYS: Final = ("exporters", "processors", "receivers")

Obj = dict[str, Any]


class ConversionError(ValueError):
    """The resource cannot be converted; `field` names where, `message` says what and how to fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Converted:
    resource: Obj  # the v1beta1 OpenTelemetryCollector
    warnings: tuple[str, ...] = ()  # "field: what was dropped and why"


def is_v1alpha1_collector(doc: Mapping[str, Any]) -> bool:
    return doc.get("apiVersion") == V1ALPHA1 and doc.get("kind") == KIND


class _Conversion:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def drop(self, field: str, why: str) -> None:
        self.warnings.append(f"{field}: {why}")

    def pick(self, value: Any, keys: tuple[str, ...], field: str, what: str = "") -> Obj | None:
        """The sub-fields upstream carries over; the rest are dropped with a warning. None when not a mapping."""
        if not isinstance(value, Mapping):
            return None
        for key in value:
            if key not in keys:
                why = f"not a {what} key ({', '.join(keys)})" if what else f"not a field of {field} in v1alpha1"
                self.drop(f"{field}.{key}", f"{why}; dropped, as upstream's conversion does")
        return {k: copy.deepcopy(value[k]) for k in value if k in keys}

    def spec(self, spec: Mapping[str, Any]) -> Obj:
        out: Obj = {}
        handlers: dict[str, Callable[[Any], None]] = {
            "config": lambda v: out.__setitem__("config", self.config(v)),
            "autoscaler": lambda v: self.autoscaler(spec, out),
            "minReplicas": lambda v: self.autoscaler(spec, out),
            "maxReplicas": lambda v: self.autoscaler(spec, out),
            "podDisruptionBudget": lambda v: self.put(
                out, "podDisruptionBudget", self.pick(v, _PDB, "spec.podDisruptionBudget")
            ),
            "livenessProbe": lambda v: self.put(
                out, "livenessProbe", self.pick(v, PROBE_TIMINGS, "spec.livenessProbe")
            ),
            "ports": lambda v: self.put(out, "ports", self.ports(v)),
            "ingress": lambda v: self.put(out, "ingress", self.ingress(v)),
            "observability": lambda v: self.put(out, "observability", self.observability(v, "spec.observability")),
            "configmaps": lambda v: self.put(out, "configmaps", self.config_maps(v)),
            "updateStrategy": lambda v: out.__setitem__("daemonSetUpdateStrategy", copy.deepcopy(v)),
            "deploymentUpdateStrategy": lambda v: self.put(
                out,
                "deploymentUpdateStrategy",
                self.pick(v, ("type", "rollingUpdate"), "spec.deploymentUpdateStrategy"),
            ),
            "targetAllocator": lambda v: self.put(out, "targetAllocator", self.allocator(v)),
        }
        for key, value in spec.items():
            if key in _AS_IS:
                out[key] = copy.deepcopy(value)
            elif key in handlers:
                handlers[key](value)
            else:
                self.drop(f"spec.{key}", "not a v1alpha1 field; dropped, as the API server prunes unknown fields")
        if "config" not in out:  # upstream always writes the config, empty when there was none
            out["config"] = self.config("")
        return out

    @staticmethod
    def put(out: Obj, key: str, value: Any) -> None:
        if value is not None:
            out[key] = value

    def config(self, text: Any) -> Obj:
        if isinstance(text, Mapping):
            raise ConversionError(
                "spec.config",
                "is a mapping, but v1alpha1 keeps the collector config as a YAML string; if it is already "
                f"structured, set apiVersion: {V1BETA1} instead of converting",
            )
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise ConversionError("spec.config", f"must be a YAML string, got {type(text).__name__}")
        try:
            parsed = yamlsafe.safe_load(text)
        except yamlsafe.YamlLimitError as err:  # aliases past the budget, or too deep: the message says the fix
            raise ConversionError("spec.config", yamlsafe.describe(err)) from err
        except yaml.YAMLError as err:
            raise ConversionError(
                "spec.config",
                f"is not valid YAML ({' '.join(str(err).split())}); fix the string (upstream's conversion would "
                "silently replace it with an empty config)",
            ) from err
        if parsed is None:
            parsed = {}
        if not isinstance(parsed, Mapping):
            raise ConversionError(
                "spec.config",
                f"must be a YAML mapping of {', '.join(_CONFIG_SECTIONS)}, got a {type(parsed).__name__}",
            )
        out: Obj = {}
        for key, value in parsed.items():
            if key not in _CONFIG_SECTIONS:
                self.drop(
                    f"spec.config.{key}",
                    f"not a collector config section ({', '.join(_CONFIG_SECTIONS)}); dropped, as upstream's "
                    "conversion does",
                )
            elif key == "service":
                out[key] = self.service(value)
            else:
                out[key] = value
        # upstream's conversion always writes these three, empty when missing
        for section in ("receivers", "exporters"):
            if out.get(section) is None:
                out[section] = {}
        if not isinstance(out.get("service"), dict):
            out["service"] = {}
        if out["service"].get("pipelines") is None:
            out["service"]["pipelines"] = {}
        return {k: out[k] for k in (*_CONFIG_SECTIONS,) if k in out}

    def service(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value  # the schema check names a wrong type
        out = self.pick(value, _SERVICE_KEYS, "spec.config.service", "service") or {}
        pipelines = out.get("pipelines")
        if isinstance(pipelines, Mapping):
            out["pipelines"] = {
                name: (
                    self.pick(p, _PIPELINE_KEYS, f"spec.config.service.pipelines.{name}", "pipeline")
                    if p is not None
                    else p
                )
                for name, p in pipelines.items()
            }
        return out

    def autoscaler(self, spec: Mapping[str, Any], out: Obj) -> None:
        if "autoscaler" in out:
            return  # already folded (the first of autoscaler, minReplicas, maxReplicas places it)
        given = spec.get("autoscaler")
        if given is None and spec.get("minReplicas") is None and spec.get("maxReplicas") is None:
            return
        autoscaler = self.pick(given, _AUTOSCALER, "spec.autoscaler") or {}
        if isinstance(autoscaler.get("metrics"), list):
            autoscaler["metrics"] = [
                self.pick(m, ("type", "pods"), f"spec.autoscaler.metrics[{i}]") if isinstance(m, Mapping) else m
                for i, m in enumerate(autoscaler["metrics"])
            ]
        # the deprecated top-level fields count only where the autoscaler does not set its own
        for key in ("minReplicas", "maxReplicas"):
            if spec.get(key) is not None and autoscaler.get(key) is None:
                autoscaler[key] = spec[key]
        out["autoscaler"] = {k: autoscaler[k] for k in _AUTOSCALER if k in autoscaler}

    def ports(self, value: Any) -> Any:
        if not isinstance(value, list):
            return copy.deepcopy(value)
        return [self.pick(p, _PORT, f"spec.ports[{i}]") if isinstance(p, Mapping) else p for i, p in enumerate(value)]

    def ingress(self, value: Any) -> Obj | None:
        out = self.pick(value, _INGRESS, "spec.ingress")
        if out is not None and "route" in out:
            route = self.pick(out["route"], ("termination",), "spec.ingress.route")
            if route is None:
                del out["route"]
            else:
                out["route"] = route
        return out

    def observability(self, value: Any, field: str) -> Obj | None:
        out = self.pick(value, ("metrics",), field)
        if out is None or not isinstance(out.get("metrics"), Mapping):
            return out
        metrics = out["metrics"]
        converted: Obj = {}
        for key, item in metrics.items():
            if key == "enableMetrics":
                converted["enableMetrics"] = item
            elif key in ("DisablePrometheusAnnotations", "disablePrometheusAnnotations"):
                # v1alpha1's JSON name is capitalised; v1beta1's is not
                converted["disablePrometheusAnnotations"] = item
            else:
                self.drop(f"{field}.metrics.{key}", "not carried to v1beta1 by upstream's conversion; dropped")
        out["metrics"] = converted
        return out

    def config_maps(self, value: Any) -> Any:
        if not isinstance(value, list):
            return copy.deepcopy(value)
        return [
            self.pick(m, ("name", "mountpath"), f"spec.configmaps[{i}]") if isinstance(m, Mapping) else m
            for i, m in enumerate(value)
        ]

    def allocator(self, value: Any) -> Obj | None:
        if not isinstance(value, Mapping):
            return None
        field = "spec.targetAllocator"
        out: Obj = {}
        for key, item in value.items():
            if key in _ALLOCATOR_AS_IS:
                out[key] = copy.deepcopy(item)
            elif key == "allocationStrategy":
                if item in _ALLOCATION_STRATEGIES:
                    out[key] = item
                elif item:
                    self.drop(
                        f"{field}.allocationStrategy",
                        f'"{item}" is not {", ".join(_ALLOCATION_STRATEGIES)}; dropped, as upstream\'s conversion '
                        "does (the default consistent-hashing applies)",
                    )
            elif key == "filterStrategy":
                if item == "relabel-config":
                    out[key] = item
                elif item:
                    self.drop(
                        f"{field}.filterStrategy",
                        f'"{item}" is not relabel-config; dropped, as upstream\'s conversion does',
                    )
            elif key == "prometheusCR":
                out[key] = item  # replaced below
            elif key == "observability":
                self.put(out, key, self.observability(item, f"{field}.observability"))
            elif key == "podDisruptionBudget":
                self.put(out, key, self.pick(item, _PDB, f"{field}.podDisruptionBudget"))
            else:
                self.drop(f"{field}.{key}", "not a v1alpha1 field; dropped, as the API server prunes unknown fields")
        out["prometheusCR"] = self.prometheus_cr(value.get("prometheusCR"))
        return out

    def prometheus_cr(self, value: Any) -> Obj:
        field = "spec.targetAllocator.prometheusCR"
        given = value if isinstance(value, Mapping) else {}
        selectors = ("podMonitorSelector", "serviceMonitorSelector")
        out = self.pick(given, ("enabled", "scrapeInterval", "scrapeClasses", *selectors), field) or {}
        # v1alpha1's selectors are label maps; upstream always writes a selector, so an empty map selects every
        # monitor (as it did in v1alpha1)
        for key in selectors:
            labels = given.get(key)
            if labels is not None and not isinstance(labels, Mapping):
                raise ConversionError(f"{field}.{key}", "must be a map of labels (v1alpha1 has no matchExpressions)")
            out[key] = {"matchLabels": dict(labels)} if labels else {}
        return out

    def status(self, status: Mapping[str, Any]) -> Obj:
        out: Obj = {}
        scale = status.get("scale")
        if isinstance(scale, Mapping):
            out["scale"] = {k: scale[k] for k in ("selector", "replicas", "statusReplicas") if k in scale}
        for key in ("version", "image"):
            if key in status:
                out[key] = status[key]
        return out


def to_v1beta1(resource: Mapping[str, Any]) -> Converted:
    """The v1beta1 form of a v1alpha1 OpenTelemetryCollector. Raises ConversionError when it cannot be converted."""
    if not is_v1alpha1_collector(resource):
        raise ConversionError(
            "apiVersion", f"{resource.get('kind')} {resource.get('apiVersion')} is not a {V1ALPHA1} {KIND}"
        )
    spec = resource.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise ConversionError("spec", "must be a mapping")
    conversion = _Conversion()
    out: Obj = {"apiVersion": V1BETA1, "kind": KIND}
    for key, value in resource.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "spec":
            out["spec"] = conversion.spec(spec)
        elif key == "status" and isinstance(value, Mapping):
            out["status"] = conversion.status(value)
        else:
            out[key] = copy.deepcopy(value)
    if "spec" not in out:
        out["spec"] = conversion.spec(spec)
    return Converted(out, tuple(conversion.warnings))
