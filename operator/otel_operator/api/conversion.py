"""OpenTelemetryCollector `opentelemetry.io/v1alpha1` → `v1beta1`, field for field as upstream's conversion webhook
(operator reference §1.3): the `config` string parsed into the structured config, `minReplicas`/`maxReplicas` folded
into `autoscaler`, `updateStrategy` renamed `daemonSetUpdateStrategy`, the allocator's monitor selector maps turned
into label selectors, and every other field moved as upstream moves it (and only the sub-fields upstream carries).

Two decisions differ from upstream, on purpose:

- A `config` that is not YAML (or not a mapping) is an error naming `spec.config` and the YAML problem. Upstream's
  webhook must never fail, so it silently stores an empty config, and the collector then runs without pipelines.
- What upstream's conversion drops without a word (fields v1alpha1 does not have, config sections v1beta1 does not
  have, an unknown allocation or filter strategy) is dropped here too, with a warning naming the field.

Pure functions of the resource: the CLI uses `to_v1beta1` (`otel-operator check resources --convert`), and the
CRD's conversion webhook answers with `convert_review` in both directions (`to_v1alpha1` writes the config back as
upstream's Go YAML does, and keeps what v1alpha1 lacks so a v1alpha1 round trip loses nothing).
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
    def __init__(self, keep_unknown: bool = False) -> None:
        self.warnings: list[str] = []
        # the webhook's mode: a field v1alpha1 lacks is carried as it is (our served v1alpha1 schema preserves it, so
        # a v1beta1 field survives a v1alpha1 round trip); the API server prunes what v1beta1 lacks
        self.keep_unknown = keep_unknown
        self.absent_selectors: frozenset[str] = frozenset()  # read from ABSENT_SELECTORS by to_v1beta1

    def drop(self, field: str, why: str) -> None:
        self.warnings.append(f"{field}: {why}")

    def pick(self, value: Any, keys: tuple[str, ...], field: str, what: str = "") -> Obj | None:
        """The sub-fields upstream carries over; the rest are dropped with a warning. None when not a mapping."""
        if not isinstance(value, Mapping):
            return None
        if self.keep_unknown:  # the webhook: v1beta1's sub-fields pass (the API server prunes what it lacks)
            return copy.deepcopy(dict(value))
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
            elif self.keep_unknown:
                out[key] = copy.deepcopy(value)
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
            elif self.keep_unknown:  # extraLabels and the like: v1beta1's, kept through a v1alpha1 round trip
                converted[key] = copy.deepcopy(item)
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
            elif self.keep_unknown:
                out[key] = copy.deepcopy(item)
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
            if key in self.absent_selectors:  # absent in the stored v1beta1 (selects nothing): stays absent
                out.pop(key, None)
                continue
            if self.keep_unknown and _is_label_selector(labels):
                out[key] = copy.deepcopy(labels)  # a v1beta1 selector to_v1alpha1 could not write as labels
                continue
            if labels is not None and not isinstance(labels, Mapping):
                raise ConversionError(f"{field}.{key}", "must be a map of labels (v1alpha1 has no matchExpressions)")
            out[key] = {"matchLabels": dict(labels)} if labels else {}
        return out

    def status(self, status: Mapping[str, Any]) -> Obj:
        if self.keep_unknown:  # conditions and the rest: the same in both versions' status (ours)
            return copy.deepcopy(dict(status))
        out: Obj = {}
        scale = status.get("scale")
        if isinstance(scale, Mapping):
            out["scale"] = {k: scale[k] for k in ("selector", "replicas", "statusReplicas") if k in scale}
        for key in ("version", "image"):
            if key in status:
                out[key] = status[key]
        return out


def to_v1beta1(resource: Mapping[str, Any], *, keep_unknown: bool = False) -> Converted:
    """The v1beta1 form of a v1alpha1 OpenTelemetryCollector. Raises ConversionError when it cannot be converted.
    `keep_unknown` (the conversion webhook): spec fields v1alpha1 lacks are carried, not dropped."""
    if not is_v1alpha1_collector(resource):
        raise ConversionError(
            "apiVersion", f"{resource.get('kind')} {resource.get('apiVersion')} is not a {V1ALPHA1} {KIND}"
        )
    spec = resource.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise ConversionError("spec", "must be a mapping")
    conversion = _Conversion(keep_unknown)
    out: Obj = {"apiVersion": V1BETA1, "kind": KIND}
    meta = resource.get("metadata")
    if keep_unknown and isinstance(meta, Mapping):  # first: its note says which selectors the spec leaves absent
        meta = _without_absent_marker(meta, conversion)
    for key, value in resource.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            out[key] = copy.deepcopy(meta)
        elif key == "spec":
            out["spec"] = conversion.spec(spec)
        elif key == "status" and isinstance(value, Mapping):
            out["status"] = conversion.status(value)
        else:
            out[key] = copy.deepcopy(value)
    if "spec" not in out:
        out["spec"] = conversion.spec(spec)
    return Converted(out, tuple(conversion.warnings))


def _is_label_selector(value: Any) -> bool:
    """A v1beta1 label selector with matchExpressions (v1alpha1's label maps cannot hold it)."""
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("matchExpressions"), list)
        and set(value) <= {"matchLabels", "matchExpressions"}
    )


# ------------------------------------------------------------------------------------- v1beta1 -> v1alpha1

_SECTION_ORDER: Final = ("receivers", "exporters", "processors", "connectors", "extensions", "service")


class _IndentedDumper(yaml.SafeDumper):
    """Sequences indented under their key, as upstream's Go YAML writes them (`readers:\n  - pull:`)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _in_order(value: Mapping[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    rest = sorted((k for k in value if k not in first), key=str)
    return {k: value[k] for k in (*first, *rest) if k in value}


def config_text(config: Any) -> str:
    """v1beta1's structured config as v1alpha1's YAML string, written as upstream's conversion writes it: the
    sections, the service and each pipeline in their struct order, every other mapping's keys sorted, two-space
    indents with indented sequences (so `config` reads back byte for byte as upstream's e2e test expects)."""
    if not isinstance(config, Mapping):
        return "" if config is None else str(config)
    ordered = _in_order({k: _sorted(v) for k, v in config.items()}, _SECTION_ORDER)
    service = ordered.get("service")
    if isinstance(service, Mapping):
        service = _in_order(service, ("extensions", "telemetry", "pipelines"))
        pipelines = service.get("pipelines")
        if isinstance(pipelines, Mapping):
            service["pipelines"] = {
                name: _in_order(p, ("exporters", "processors", "receivers")) if isinstance(p, Mapping) else p
                for name, p in pipelines.items()
            }
        ordered["service"] = service
    return yaml.dump(ordered, Dumper=_IndentedDumper, sort_keys=False, indent=2, default_flow_style=False,
                     allow_unicode=True, width=1 << 16)  # fmt: skip


def _alpha_observability(value: Any) -> Any:
    if not isinstance(value, Mapping) or not isinstance(value.get("metrics"), Mapping):
        return copy.deepcopy(value)
    out = copy.deepcopy(dict(value))
    metrics = out["metrics"]
    if "disablePrometheusAnnotations" in metrics:  # v1alpha1's JSON name is capitalised
        metrics["DisablePrometheusAnnotations"] = metrics.pop("disablePrometheusAnnotations")
    return out


def _alpha_allocator(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return copy.deepcopy(value)
    out = copy.deepcopy(dict(value))
    if "observability" in out:
        out["observability"] = _alpha_observability(out["observability"])
    cr = out.get("prometheusCR")
    if isinstance(cr, dict):
        for key in ("podMonitorSelector", "serviceMonitorSelector"):
            selector = cr.get(key)
            # a selector of labels only is v1alpha1's label map; one with matchExpressions stays a selector (our
            # served v1alpha1 keeps it, and to_v1beta1 reads it back) rather than being lost
            if isinstance(selector, Mapping) and not selector.get("matchExpressions"):
                cr[key] = dict(selector.get("matchLabels") or {})
    return out


# v1alpha1 cannot say "no selector": its empty label map selects every monitor, while an absent v1beta1 selector
# selects none. to_v1alpha1 names the absent ones here so that the way back keeps them absent (a conversion may
# change annotations); a v1alpha1 object written by hand has no such note and gets upstream's select-all.
ABSENT_SELECTORS: Final = "otel-operator.opentelemetry.io/v1beta1-absent-selectors"


def _without_absent_marker(meta: Mapping[str, Any], conversion: _Conversion) -> Obj:
    out = copy.deepcopy(dict(meta))
    annotations = out.get("annotations")
    if isinstance(annotations, dict) and ABSENT_SELECTORS in annotations:
        conversion.absent_selectors = frozenset(str(annotations.pop(ABSENT_SELECTORS)).split(","))
        if not annotations:
            del out["annotations"]
    return out


def to_v1alpha1(resource: Mapping[str, Any]) -> Obj:
    """The v1alpha1 form of a v1beta1 OpenTelemetryCollector (what a v1alpha1 client reads): the config as a YAML
    string, `daemonSetUpdateStrategy` as `updateStrategy`, the allocator's selectors as label maps, the autoscaler's
    bounds also as the deprecated `minReplicas`/`maxReplicas`. Every other field is carried as it is, also those
    v1alpha1 lacks: our served v1alpha1 preserves them, so nothing is lost on the way back (upstream drops them)."""
    out: Obj = {}
    for key, value in resource.items():
        if key == "apiVersion":
            out[key] = V1ALPHA1
        elif key == "spec" and isinstance(value, Mapping):
            out[key] = _alpha_spec(value)
        else:
            out[key] = copy.deepcopy(value)
    out.setdefault("apiVersion", V1ALPHA1)
    cr = ((resource.get("spec") or {}).get("targetAllocator") or {}).get("prometheusCR")
    if isinstance(cr, Mapping):
        absent = [k for k in ("podMonitorSelector", "serviceMonitorSelector") if cr.get(k) is None]
        if absent:
            meta = out.setdefault("metadata", {})
            meta.setdefault("annotations", {})[ABSENT_SELECTORS] = ",".join(absent)
    return out


def _alpha_spec(spec: Mapping[str, Any]) -> Obj:
    out: Obj = {}
    for key, value in spec.items():
        if key == "config":
            out["config"] = config_text(value)
        elif key == "daemonSetUpdateStrategy":
            out["updateStrategy"] = copy.deepcopy(value)
        elif key == "observability":
            out[key] = _alpha_observability(value)
        elif key == "targetAllocator":
            out[key] = _alpha_allocator(value)
        else:
            out[key] = copy.deepcopy(value)
    autoscaler = spec.get("autoscaler")
    if isinstance(autoscaler, Mapping):
        for key in ("minReplicas", "maxReplicas"):
            if autoscaler.get(key) is not None:
                out[key] = autoscaler[key]
    return out


def convert_review(review: Mapping[str, Any]) -> Obj:
    """A `ConversionReview` (apiextensions.k8s.io/v1) answered: every object in the desired version, or a Failure
    naming the object and the field. Pure: the webhook route only decodes and encodes."""
    request = review.get("request") if isinstance(review.get("request"), Mapping) else {}
    assert isinstance(request, Mapping)
    uid = request.get("uid", "")
    desired = request.get("desiredAPIVersion")
    converted: list[Obj] = []
    try:
        if desired not in (V1ALPHA1, V1BETA1):
            raise ConversionError("desiredAPIVersion", f"{desired!r} is neither {V1ALPHA1} nor {V1BETA1}")
        for obj in request.get("objects") or []:
            if not isinstance(obj, Mapping):
                raise ConversionError("objects", "every object must be a mapping")
            try:
                converted.append(_convert_one(obj, str(desired)))
            except ConversionError as err:
                meta = obj.get("metadata") or {}
                who = f"{obj.get('apiVersion')} {KIND} {meta.get('namespace', '')}/{meta.get('name', '')}"
                raise ConversionError(err.field, f"{who}: {err.message}") from None
    except ConversionError as err:
        result = {"status": "Failure", "message": f"{err.field}: {err.message}"}
        return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                "response": {"uid": uid, "result": result, "convertedObjects": []}}  # fmt: skip
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "response": {"uid": uid, "result": {"status": "Success"}, "convertedObjects": converted},
    }


def _convert_one(obj: Mapping[str, Any], desired: str) -> Obj:
    version = obj.get("apiVersion")
    if version == desired:
        return copy.deepcopy(dict(obj))
    if version == V1ALPHA1 and desired == V1BETA1:
        return to_v1beta1(obj, keep_unknown=True).resource
    if version == V1BETA1 and desired == V1ALPHA1:
        return to_v1alpha1(obj)
    raise ConversionError("apiVersion", f"cannot convert {version!r} to {desired!r}")
