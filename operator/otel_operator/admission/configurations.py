"""The Validating and Mutating WebhookConfigurations (admissionregistration.k8s.io/v1) that make the API server call
the operator: pure builders over plain dicts. The chart's templates install the same webhooks
(tests/unit/test_chart_webhooks.py compares them); the operator and the tests build them here.

Safety, since a webhook that does not answer blocks what it intercepts:
- every webhook skips the operator's own namespace and kube-system, so a broken operator can still be fixed;
- pods are sent only when they ask for a sidecar, and a failed pod call is ignored (the pod is created without one).
  Two pod webhooks do this: one for pods carrying the inject annotation (a CEL match condition), one for pods
  without it in namespaces labelled for injection (the operator mirrors the namespace annotation into that label,
  since a namespaceSelector sees labels only). Their conditions exclude each other, so no pod is sent twice;
- collectors and target allocators are sent on CREATE and on an UPDATE that changes the spec, not on metadata-only
  writes (finalizers, kopf's annotations), which the webhooks have nothing to say about.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from otel_operator.admission import names

API_VERSION: Final = "admissionregistration.k8s.io/v1"
VALIDATING_KIND: Final = "ValidatingWebhookConfiguration"
MUTATING_KIND: Final = "MutatingWebhookConfiguration"

# The namespace's own name as a label (set by the API server on every namespace since 1.21).
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"
ALWAYS_EXCLUDED: Final = ("kube-system",)

DEFAULT_LABELS: Final[Mapping[str, str]] = {
    "app.kubernetes.io/part-of": "otel-operator",
    "app.kubernetes.io/component": "webhook",
}

# CEL over the admitted object (a pod: CREATE only, so `object` is always set). `has()` first: a pod without
# annotations has no such field, and indexing it would be an evaluation error.
HAS_INJECT_ANNOTATION: Final = (
    f"has(object.metadata.annotations) && '{names.INJECT_ANNOTATION}' in object.metadata.annotations"
)
LACKS_INJECT_ANNOTATION: Final = (
    f"!has(object.metadata.annotations) || !('{names.INJECT_ANNOTATION}' in object.metadata.annotations)"
)

# Collectors and allocators: an UPDATE that leaves the spec alone (kopf's finalizer and progress annotations, a
# label, a finalizer removed by hand) is not sent. What the webhooks check and default is the spec; and with
# failurePolicy Fail, a stopped operator would otherwise block every such write, even the removal of its own
# finalizer from a collector being deleted. CEL's || is true when either side is, whatever the other's error (as
# oldObject.spec's on CREATE, where oldObject is null).
_LINK = names.ALLOCATOR_LINK_LABEL


def _link_of(obj: str) -> str:
    """CEL: the object's target-allocator label, "" when it has none."""
    return f"(has({obj}.metadata.labels) && '{_LINK}' in {obj}.metadata.labels ? {obj}.metadata.labels['{_LINK}'] : '')"


# ... or an UPDATE that changes the collector's link to a TargetAllocator (that label decides what it is built with)
SPEC_CHANGED: Final = (
    "request.operation != 'UPDATE' || !has(object.spec) || !has(oldObject.spec) || object.spec != oldObject.spec"
    f" || {_link_of('object')} != {_link_of('oldObject')}"
)
SPEC_CHANGED_CONDITION: Final[Mapping[str, str]] = {"name": "spec-changed", "expression": SPEC_CHANGED}

FailurePolicy = Literal["Fail", "Ignore"]


@dataclass(frozen=True)
class ServiceRef:
    """The webhook Service in the cluster (the chart's `<fullname>-webhook`)."""

    name: str
    namespace: str
    port: int = 443


# A URL base such as "https://127.0.0.1:9443" (tests, `make demo`: the operator on loopback), or the Service.
Client = ServiceRef | str


def client_config(client: Client, handler_id: str, ca_bundle: bytes | str | None = None) -> dict[str, Any]:
    """Where the API server sends a handler's reviews: `/<handler id>` on the Service or under the URL base.
    `ca_bundle` is the CA's PEM; the API field is bytes, so JSON carries it base64-encoded."""
    config: dict[str, Any]
    if isinstance(client, ServiceRef):
        config = {
            "service": {
                "name": client.name,
                "namespace": client.namespace,
                "path": f"/{handler_id}",
                "port": client.port,
            }
        }
    else:
        config = {"url": f"{client.rstrip('/')}/{handler_id}"}
    if ca_bundle is not None:
        config["caBundle"] = encode_ca_bundle(ca_bundle)
    return config


def encode_ca_bundle(ca_pem: bytes | str) -> str:
    return base64.b64encode(ca_pem.encode() if isinstance(ca_pem, str) else ca_pem).decode("ascii")


def namespace_selector(
    operator_namespace: str,
    extra: Mapping[str, Any] | None = None,
    match_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Never the operator's namespace nor kube-system; `extra` (the chart's admissionWebhooks.namespaceSelector)
    narrows it further: its matchLabels are merged, its matchExpressions added after the exclusion."""
    excluded = [operator_namespace, *(n for n in ALWAYS_EXCLUDED if n != operator_namespace)]
    labels = {**dict((extra or {}).get("matchLabels") or {}), **dict(match_labels or {})}
    selector: dict[str, Any] = {}
    if labels:
        selector["matchLabels"] = labels
    selector["matchExpressions"] = [
        {"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": excluded},
        *((extra or {}).get("matchExpressions") or []),
    ]
    return selector


def _rule(group: str, version: str, resource: str, operations: Sequence[str]) -> dict[str, Any]:
    return {
        "apiGroups": [group],
        "apiVersions": [version],
        "operations": list(operations),
        "resources": [resource],
        "scope": "Namespaced",
    }


def _webhook(
    name: str,
    handler_id: str,
    rule: dict[str, Any],
    *,
    client: Client,
    ca_bundle: bytes | str | None,
    failure_policy: str,
    timeout_seconds: int,
    ns_selector: dict[str, Any],
    object_selector: Mapping[str, Any] | None,
    match_condition: Mapping[str, str] = SPEC_CHANGED_CONDITION,
) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": client_config(client, handler_id, ca_bundle),
        "rules": [rule],
        "failurePolicy": failure_policy,
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
        "namespaceSelector": ns_selector,
        "matchConditions": [dict(match_condition)],
    }
    if object_selector:
        hook["objectSelector"] = dict(object_selector)
    return hook


def _metadata(name: str, labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(DEFAULT_LABELS if labels is None else labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def validating_configuration(
    name: str,
    client: Client,
    *,
    operator_namespace: str,
    ca_bundle: bytes | str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    failure_policy: FailurePolicy = "Fail",
    timeout_seconds: int = names.VALIDATING_TIMEOUT_SECONDS,
    extra_namespace_selector: Mapping[str, Any] | None = None,
    object_selector: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration: OpenTelemetryCollectors (v1beta1) and TargetAllocators (v1alpha1), on
    CREATE and UPDATE. `labels` None: DEFAULT_LABELS."""
    common: dict[str, Any] = {
        "client": client,
        "ca_bundle": ca_bundle,
        "failure_policy": failure_policy,
        "timeout_seconds": timeout_seconds,
        "ns_selector": namespace_selector(operator_namespace, extra_namespace_selector),
        "object_selector": object_selector,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": VALIDATING_KIND,
        "metadata": _metadata(name, labels, annotations),
        "webhooks": [
            _webhook(
                names.COLLECTOR_VALIDATING_WEBHOOK,
                names.VALIDATE_COLLECTOR,
                _rule("opentelemetry.io", "v1beta1", "opentelemetrycollectors", ["CREATE", "UPDATE"]),
                **common,
            ),
            _webhook(
                names.ALLOCATOR_VALIDATING_WEBHOOK,
                names.VALIDATE_ALLOCATOR,
                _rule("opentelemetry.io", "v1alpha1", "targetallocators", ["CREATE", "UPDATE"]),
                **common,
            ),
        ],
    }


def mutating_configuration(
    name: str,
    client: Client,
    *,
    operator_namespace: str,
    ca_bundle: bytes | str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    failure_policy: FailurePolicy = "Fail",
    timeout_seconds: int = names.VALIDATING_TIMEOUT_SECONDS,
    pod_failure_policy: FailurePolicy = "Ignore",
    pod_timeout_seconds: int = names.POD_TIMEOUT_SECONDS,
    extra_namespace_selector: Mapping[str, Any] | None = None,
    object_selector: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The MutatingWebhookConfiguration: collector defaults (CREATE, UPDATE) and sidecar injection into pods
    (CREATE only: a running pod's containers cannot change) through the two pod webhooks described above."""
    collector = _webhook(
        names.COLLECTOR_MUTATING_WEBHOOK,
        names.MUTATE_COLLECTOR,
        _rule("opentelemetry.io", "v1beta1", "opentelemetrycollectors", ["CREATE", "UPDATE"]),
        client=client,
        ca_bundle=ca_bundle,
        failure_policy=failure_policy,
        timeout_seconds=timeout_seconds,
        ns_selector=namespace_selector(operator_namespace, extra_namespace_selector),
        object_selector=object_selector,
    )
    pods: list[dict[str, Any]] = []
    for hook_name, condition, expression, ns_labels in (
        (names.POD_MUTATING_WEBHOOK, "inject-annotation", HAS_INJECT_ANNOTATION, None),
        (
            names.NAMESPACE_POD_MUTATING_WEBHOOK,
            "no-inject-annotation",
            LACKS_INJECT_ANNOTATION,
            {names.NAMESPACE_INJECT_LABEL: "true"},
        ),
    ):
        hook = _webhook(
            hook_name,
            names.MUTATE_POD,
            _rule("", "v1", "pods", ["CREATE"]),
            client=client,
            ca_bundle=ca_bundle,
            failure_policy=pod_failure_policy,
            timeout_seconds=pod_timeout_seconds,
            ns_selector=namespace_selector(operator_namespace, extra_namespace_selector, ns_labels),
            object_selector=object_selector,
            match_condition={"name": condition, "expression": expression},
        )
        # another mutating webhook may add containers after ours; seeing the pod again keeps injection complete
        hook["reinvocationPolicy"] = "IfNeeded"
        pods.append(hook)
    return {
        "apiVersion": API_VERSION,
        "kind": MUTATING_KIND,
        "metadata": _metadata(name, labels, annotations),
        "webhooks": [collector, *pods],
    }
