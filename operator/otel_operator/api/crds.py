"""The CustomResourceDefinitions otel-operator installs, built as plain data.

This module is the single source: `crds/*.yaml` in the repository (and the Helm chart's copy) are generated from it
with `python -m otel_operator.api.crds write crds/`, and a unit test fails when they drift. The stand-ins for
prometheus-operator's CRDs (`monitoring_crds`) are test fixtures: they are written apart, to
tests/data/standin-crds/ (`write-standins`), under names that say so, so that no install path can apply them
over a cluster's real ones.

The OpenTelemetryCollector and TargetAllocator schemas follow upstream's field names, types, enums and defaults for
every field the product supports, so existing manifests apply unchanged. Kubernetes types that are passed through to
pods as they are (affinity, volumes, probes, ...) are kept as preserved objects rather than re-declared.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import yaml

from otel_operator.admission import names
from otel_operator.api.openapi import (
    Schema,
    array,
    boolean,
    free_object,
    int_or_string,
    integer,
    label_selector,
    obj,
    string,
    string_map,
)

OTEL_GROUP = "opentelemetry.io"
MONITORING_GROUP = "monitoring.coreos.com"
CRD = dict[str, Any]

# ----------------------------------------------------------------------------------------------- shared fields


def _resources() -> Schema:
    quantities = {"type": "object", "additionalProperties": int_or_string()}
    return obj(
        {"limits": quantities, "requests": quantities, "claims": array(free_object())},
        "Compute resources (corev1.ResourceRequirements).",
    )


def _port() -> Schema:
    return obj(
        {
            "name": string(),
            "port": integer(),
            "protocol": string(default="TCP"),
            "appProtocol": string(),
            "targetPort": int_or_string(),
            "nodePort": integer(),
            "hostPort": integer(),
        },
        required=["port"],
    )


def _pdb() -> Schema:
    return obj(
        {"minAvailable": int_or_string(), "maxUnavailable": int_or_string()}, "PodDisruptionBudget for the pods."
    )


def _env() -> Schema:
    return array(obj({"name": string(), "value": string(), "valueFrom": free_object()}, required=["name"]))


def common_fields() -> dict[str, Schema]:
    """OpenTelemetryCommonFields: shared by collectors and target allocators."""
    return {
        "managementState": string(
            "managed: the operator reconciles the workload; unmanaged: it leaves it alone.",
            enum=["managed", "unmanaged"],
            default="managed",
        ),
        "resources": _resources(),
        "nodeSelector": string_map(),
        "args": string_map("Extra arguments, rendered as sorted --key=value."),
        "replicas": integer("Number of pods (deployment and statefulset modes).", default=1),
        "podDisruptionBudget": _pdb(),
        "securityContext": free_object(),
        "podSecurityContext": free_object(),
        "podAnnotations": string_map(),
        "serviceAccount": string("An existing ServiceAccount; when set, none is created."),
        "image": string(),
        "imagePullPolicy": string(),
        "volumeMounts": array(free_object(), atomic=True),
        "ports": array(_port()),
        "env": _env(),
        "envFrom": array(free_object()),
        "tolerations": array(free_object()),
        "volumes": array(free_object()),
        "affinity": free_object(),
        "lifecycle": free_object(),
        "terminationGracePeriodSeconds": integer(fmt="int64"),
        "topologySpreadConstraints": array(free_object()),
        "hostNetwork": boolean(),
        "hostPID": boolean(),
        "shareProcessNamespace": boolean(),
        "dnsPolicy": string(),
        "priorityClassName": string(),
        "initContainers": array(free_object()),
        "additionalContainers": array(free_object()),
        "podDnsConfig": free_object(),
        "ipFamilies": array(string()),
        "ipFamilyPolicy": string(default="SingleStack"),
        "trafficDistribution": string(),
        "sessionAffinity": string(),
        "sessionAffinityConfig": free_object(),
        "hostUsers": boolean(),
        "hostAliases": array(free_object()),
    }


def prometheus_cr() -> Schema:
    """TargetAllocatorPrometheusCR: discovery of prometheus-operator resources."""
    nil_selects_none = "A label selector; omitted or null selects none, {} selects all."
    return obj(
        {
            "enabled": boolean("Discover ServiceMonitors, PodMonitors, Probes and ScrapeConfigs."),
            "allowNamespaces": array(string()),
            "denyNamespaces": array(string()),
            "secretNamespaces": array(string()),
            "denyFSAccessThroughSMs": boolean(),
            "scrapeInterval": string(fmt="duration", default="30s"),
            "evaluationInterval": string(fmt="duration", default="30s"),
            "scrapeProtocols": array(string()),
            "scrapeClasses": array(free_object()),
            "serviceMonitorSelector": label_selector(nil_selects_none),
            "podMonitorSelector": label_selector(nil_selects_none),
            "probeSelector": label_selector(nil_selects_none),
            "scrapeConfigSelector": label_selector(nil_selects_none),
            "serviceMonitorNamespaceSelector": label_selector(default={}),
            "podMonitorNamespaceSelector": label_selector(default={}),
            "probeNamespaceSelector": label_selector(default={}),
            "scrapeConfigNamespaceSelector": label_selector(default={}),
        },
        "Discovery of prometheus-operator resources.",
    )


def _allocator_fields() -> dict[str, Schema]:
    return {
        "allocationStrategy": string(
            "How targets are spread over collectors.",
            enum=["least-weighted", "consistent-hashing", "per-node"],
            default="consistent-hashing",
        ),
        "filterStrategy": string(
            "relabel-config drops targets the scrape config's relabeling would drop.",
            enum=["", "relabel-config"],
            default="relabel-config",
        ),
        "prometheusCR": prometheus_cr(),
        "allowInsecureAuthSecrets": boolean("Serve Secret values over plain HTTP."),
        "collectorNotReadyGracePeriod": string(fmt="duration", default="30s"),
        "mtls": obj({"enabled": boolean(), "useCertManager": boolean(default=True), "tls": free_object()}),
        "observability": obj(
            {
                "metrics": obj(
                    {"enableMetrics": boolean(), "extraLabels": string_map(), "disablePrometheusAnnotations": boolean()}
                )
            }
        ),
    }


def _status_condition() -> Schema:
    return obj(
        {
            "type": string(),
            "status": string(enum=["True", "False", "Unknown"]),
            "reason": string(),
            "message": string(),
            "lastTransitionTime": string(fmt="date-time"),
            "observedGeneration": integer(fmt="int64"),
        },
        required=["type", "status"],
    )


# ----------------------------------------------------------------------------------------------- collector


def _collector_config() -> Schema:
    pipeline = obj(
        {"receivers": array(string()), "processors": array(string()), "exporters": array(string())},
        required=["receivers", "exporters"],
    )
    components = "Component name to its configuration, as in the collector's own config file."
    return obj(
        {
            "receivers": free_object(components),
            "exporters": free_object(components),
            "processors": free_object(components),
            "connectors": free_object(components),
            "extensions": free_object(components),
            "service": obj(
                {
                    "extensions": array(string()),
                    "telemetry": free_object(),
                    "pipelines": {"type": "object", "additionalProperties": pipeline},
                },
                required=["pipelines"],
                preserve_unknown=True,
            ),
        },
        "The collector's configuration: receivers, processors, exporters, connectors, extensions, service.",
        required=["receivers", "exporters", "service"],
        preserve_unknown=True,
    )


# A collector's probes take only these timing fields; the handler comes from its health_check extension.
PROBE_TIMINGS = (
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
    "terminationGracePeriodSeconds",
)


def _probe_timing() -> Schema:
    return obj({k: integer(fmt="int64" if k == "terminationGracePeriodSeconds" else "int32") for k in PROBE_TIMINGS})


def collector_spec() -> Schema:
    embedded_allocator = {
        "enabled": boolean("Run a target allocator for this collector's prometheus receiver."),
        "replicas": integer(),
        "nodeSelector": string_map(),
        "resources": _resources(),
        "serviceAccount": string(),
        "image": string(),
        "affinity": free_object(),
        "securityContext": free_object(),
        "podSecurityContext": free_object(),
        "topologySpreadConstraints": array(free_object()),
        "tolerations": array(free_object()),
        "env": _env(),
        "podDisruptionBudget": _pdb(),
        "collectorTargetReloadInterval": string(fmt="duration", default="30s"),
        **_allocator_fields(),
    }
    return obj(
        {
            **common_fields(),
            "mode": {
                **string("How the collector is deployed.", enum=["daemonset", "deployment", "sidecar", "statefulset"]),
                # enforced by the API server (CEL transition rule), so no webhook is needed for it
                "x-kubernetes-validations": [
                    {
                        "rule": "self == oldSelf",
                        "message": "spec.mode is immutable; create a new OpenTelemetryCollector with the other mode",
                    }
                ],
            },
            "upgradeStrategy": string(enum=["automatic", "none"]),
            "config": _collector_config(),
            "configVersions": integer("How many versioned ConfigMaps to keep.", minimum=1, default=3),
            "volumeClaimTemplates": array(free_object(), atomic=True),
            "persistentVolumeClaimRetentionPolicy": free_object(),
            "serviceName": string(),
            "podManagementPolicy": string(enum=["OrderedReady", "Parallel"]),
            "autoscaler": obj(
                {
                    "minReplicas": integer(),
                    "maxReplicas": integer(),
                    "behavior": free_object(),
                    "metrics": array(free_object()),
                    "targetCPUUtilization": integer(),
                    "targetMemoryUtilization": integer(),
                }
            ),
            "ingress": free_object(),
            "httpRoute": free_object(),
            "networkPolicy": obj({"enabled": boolean()}),
            "livenessProbe": _probe_timing(),
            "readinessProbe": _probe_timing(),
            "startupProbe": _probe_timing(),
            "observability": obj(
                {
                    "metrics": obj(
                        {
                            "enableMetrics": boolean(),
                            "extraLabels": string_map(),
                            "disablePrometheusAnnotations": boolean(),
                        }
                    )
                }
            ),
            "configmaps": array(obj({"name": string(), "mountpath": string()}, required=["name", "mountpath"])),
            "daemonSetUpdateStrategy": free_object(),
            "deploymentUpdateStrategy": free_object(),
            "command": array(string()),
            "targetAllocator": obj(embedded_allocator, "The embedded target allocator."),
        },
        "OpenTelemetryCollectorSpec",
        required=["config"],
    )


def collector_status() -> Schema:
    return obj(
        {
            "scale": obj({"selector": string(), "replicas": integer(), "statusReplicas": string()}),
            "version": string(),
            "image": string(),
            "observedGeneration": integer(fmt="int64"),
            "conditions": array(_status_condition()),
        }
    )


def _crd(
    *,
    group: str,
    kind: str,
    plural: str,
    version: str,
    schema: Schema,
    short_names: list[str] | None = None,
    categories: list[str] | None = None,
    columns: list[dict[str, Any]] | None = None,
    subresources: dict[str, Any] | None = None,
    description: str = "",
) -> CRD:
    names: dict[str, Any] = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()}
    if short_names:
        names["shortNames"] = short_names
    if categories:
        names["categories"] = categories
    top = obj({"apiVersion": string(), "kind": string(), "metadata": {"type": "object"}, **schema}, description)
    ver: dict[str, Any] = {"name": version, "served": True, "storage": True, "schema": {"openAPIV3Schema": top}}
    if subresources:
        ver["subresources"] = subresources
    if columns:
        ver["additionalPrinterColumns"] = columns
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "names": names, "scope": "Namespaced", "versions": [ver]},
    }


def _column(name: str, path: str, kind: str = "string", description: str | None = None) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if description:
        col["description"] = description
    return col


def collector_crd() -> CRD:
    crd = _crd(
        group=OTEL_GROUP,
        kind="OpenTelemetryCollector",
        plural="opentelemetrycollectors",
        version="v1beta1",
        short_names=["otelcol", "otelcols"],
        categories=["opentelemetry"],
        schema={"spec": collector_spec(), "status": collector_status()},
        subresources={
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.scale.replicas",
                "labelSelectorPath": ".status.scale.selector",
            },
        },
        columns=[
            _column("Mode", ".spec.mode", description="Deployment Mode"),
            _column("Version", ".status.version"),
            _column("Ready", ".status.scale.statusReplicas"),
            _column("Age", ".metadata.creationTimestamp", "date"),
            _column("Image", ".status.image"),
            _column("Management", ".spec.managementState"),
        ],
        description="An OpenTelemetry Collector and, optionally, its Prometheus target allocator.",
    )
    crd["spec"]["versions"].insert(0, _collector_v1alpha1(crd["spec"]["versions"][0]))
    crd["spec"]["conversion"] = {
        "strategy": "Webhook",
        "webhook": {
            "conversionReviewVersions": ["v1"],
            # the chart's defaults; the operator points this at its own webhook and CA at start (its certificate
            # keeper), so until then a v1alpha1 request fails rather than being stored unconverted
            "clientConfig": {
                "service": {
                    "namespace": CONVERSION_SERVICE_NAMESPACE,
                    "name": names.DEFAULT_SERVICE,
                    "path": names.CONVERSION_PATH,
                    "port": 443,
                }
            },
        },
    }
    return crd


CONVERSION_SERVICE_NAMESPACE: Final = "otel-operator-system"  # the README's `helm install -n`
V1ALPHA1_DEPRECATION: Final = (
    "opentelemetry.io/v1alpha1 OpenTelemetryCollector is deprecated; use opentelemetry.io/v1beta1 "
    "(`otel-operator check resources --convert FILE` rewrites a manifest)"
)


def _collector_v1alpha1(v1beta1: dict[str, Any]) -> dict[str, Any]:
    """Upstream's deprecated v1alpha1, served through the conversion webhook (stored as v1beta1). Its schema keeps
    every field: the webhook converts and the v1beta1 schema validates, so the two cannot disagree, and a v1beta1
    field read through v1alpha1 is written back intact."""
    keep = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    top = {
        "type": "object",
        "properties": {"apiVersion": string(), "kind": string(), "metadata": {"type": "object"}, "spec": keep,
                       "status": keep},
    }  # fmt: skip
    return {
        "name": "v1alpha1",
        "served": True,
        "storage": False,
        "deprecated": True,
        "deprecationWarning": V1ALPHA1_DEPRECATION,
        "schema": {"openAPIV3Schema": top},
        "subresources": v1beta1["subresources"],
        "additionalPrinterColumns": v1beta1["additionalPrinterColumns"],
    }


def target_allocator_crd() -> CRD:
    spec = obj(
        {
            **common_fields(),
            **_allocator_fields(),
            "global": free_object("Prometheus global configuration."),
            "scrapeConfigs": array(free_object(), "Static Prometheus scrape_configs.", atomic=True),
            "networkPolicy": obj({"enabled": boolean()}),
            "livenessProbe": free_object(),
            "readinessProbe": free_object(),
        },
        "TargetAllocatorSpec",
    )
    status = obj(
        {
            "version": string(),
            "image": string(),
            "observedGeneration": integer(fmt="int64"),
            "conditions": array(_status_condition()),
        }
    )
    return _crd(
        group=OTEL_GROUP,
        kind="TargetAllocator",
        plural="targetallocators",
        version="v1alpha1",
        categories=["opentelemetry"],
        schema={"spec": spec, "status": status},
        subresources={"status": {}},
        columns=[
            _column("Age", ".metadata.creationTimestamp", "date"),
            _column("Image", ".status.image"),
            _column("Management", ".spec.managementState"),
        ],
        description="A standalone Prometheus target allocator.",
    )


# ----------------------------------------------------------------------------------------------- monitoring


def _namespace_selector() -> Schema:
    return obj({"any": boolean(), "matchNames": array(string())})


STANDIN_ANNOTATION = "otel-operator.io/stand-in"
STANDIN_NOTE = (
    "a test fixture of otel-operator, not prometheus-operator's CRD: install prometheus-operator's own CRDs on a "
    "real cluster"
)


def _monitor_status() -> Schema:
    """prometheus-operator's (v0.80+) `status.bindings`: per workload that selects the monitor, whether it accepted
    it; the allocator writes its own entry (allocator/monitor_status.py)."""
    binding = obj(
        {
            "group": string(),
            "resource": string(),
            "name": string(),
            "namespace": string(),
            "conditions": array(_status_condition()),
        },
        required=["group", "resource", "name", "namespace"],
    )
    bindings = array(binding)
    bindings["x-kubernetes-list-type"] = "map"
    bindings["x-kubernetes-list-map-keys"] = ["group", "resource", "name", "namespace"]
    return obj({"bindings": bindings})


def monitoring_crds() -> list[CRD]:
    """Structural stand-ins for prometheus-operator's CRDs, for the tests' clusters, which do not run it.

    They declare the fields the allocator reads (and the status it writes) and keep everything else as given;
    clusters with prometheus-operator installed keep its own, complete definitions: these are never installed there.
    """
    endpoints = array(free_object())
    service_monitor = obj(
        {
            "selector": label_selector(),
            "namespaceSelector": _namespace_selector(),
            "endpoints": endpoints,
            "jobLabel": string(),
            "targetLabels": array(string()),
            "podTargetLabels": array(string()),
        },
        required=["selector"],
        preserve_unknown=True,
    )
    pod_monitor = obj(
        {
            "selector": label_selector(),
            "namespaceSelector": _namespace_selector(),
            "podMetricsEndpoints": endpoints,
            "jobLabel": string(),
            "podTargetLabels": array(string()),
        },
        required=["selector"],
        preserve_unknown=True,
    )
    probe = obj({"prober": free_object(), "targets": free_object(), "module": string()}, preserve_unknown=True)
    scrape_config = obj(
        {"staticConfigs": array(free_object()), "kubernetesSDConfigs": array(free_object())}, preserve_unknown=True
    )

    def monitoring(kind: str, plural: str, version: str, short: str, spec: Schema) -> CRD:
        crd = _crd(
            group=MONITORING_GROUP,
            kind=kind,
            plural=plural,
            version=version,
            short_names=[short],
            categories=["prometheus-operator"],
            schema={"spec": spec, "status": _monitor_status()},
            subresources={"status": {}},
        )
        crd["metadata"]["annotations"] = {STANDIN_ANNOTATION: STANDIN_NOTE}
        return crd

    return [
        monitoring("ServiceMonitor", "servicemonitors", "v1", "smon", service_monitor),
        monitoring("PodMonitor", "podmonitors", "v1", "pmon", pod_monitor),
        monitoring("Probe", "probes", "v1", "prb", probe),
        monitoring("ScrapeConfig", "scrapeconfigs", "v1alpha1", "scfg", scrape_config),
    ]


def all_crds() -> list[CRD]:
    """The CRDs otel-operator owns and installs (crds/, the chart, deploy/otel-operator.yaml)."""
    return [collector_crd(), target_allocator_crd()]


def crd_filename(crd: CRD) -> str:
    suffix = ".standin" if STANDIN_ANNOTATION in (crd["metadata"].get("annotations") or {}) else ""
    return f"{crd['spec']['group']}_{crd['spec']['names']['plural']}{suffix}.yaml"


def render_crd(crd: CRD) -> str:
    standin = STANDIN_ANNOTATION in (crd["metadata"].get("annotations") or {})
    command = "write-standins tests/data/standin-crds/" if standin else "write crds/"
    header = f"# Generated by `python -m otel_operator.api.crds {command}`; edit operator/otel_operator/api/crds.py.\n"
    if standin:
        header += f"# NOT prometheus-operator's CRD: {STANDIN_NOTE}.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=120)


def write_crds(folder: Path, crds: list[CRD] | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for crd in all_crds() if crds is None else crds:
        path = folder / crd_filename(crd)
        path.write_text(render_crd(crd))
        written.append(path)
    return written


if __name__ == "__main__":
    commands = {"write": all_crds, "write-standins": monitoring_crds}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit("usage: python -m otel_operator.api.crds write|write-standins FOLDER")
    for p in write_crds(Path(sys.argv[2]), commands[sys.argv[1]]()):
        print(p)
