"""The webhook configurations' builders: which requests reach which handler, and what can never be intercepted.

That the API server accepts them (the CEL match conditions above all) and routes pods as intended is in
tests/integration/test_webhook_configurations.py; that the chart installs the same webhooks, in
tests/unit/test_chart_webhooks.py.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from otel_operator.admission import configurations as cfg
from otel_operator.admission import names

SERVICE = cfg.ServiceRef("otel-operator-webhook", "otel-operator-system")
EXCLUDE = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["otel-operator-system", "kube-system"]}


def validating(**kw: Any) -> dict[str, Any]:
    return cfg.validating_configuration("otel-operator", SERVICE, operator_namespace="otel-operator-system", **kw)


def mutating(**kw: Any) -> dict[str, Any]:
    return cfg.mutating_configuration("otel-operator", SERVICE, operator_namespace="otel-operator-system", **kw)


def hooks(configuration: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {h["name"]: h for h in configuration["webhooks"]}
    assert len(found) == len(configuration["webhooks"]), "webhook names must be unique in a configuration"
    return found


# webhook name → (handler id, group, version, resource, operations, failurePolicy, timeoutSeconds)
EXPECTED = {
    names.COLLECTOR_VALIDATING_WEBHOOK: (
        names.VALIDATE_COLLECTOR,
        "opentelemetry.io",
        "v1beta1",
        "opentelemetrycollectors",
        ["CREATE", "UPDATE"],
        "Fail",
        names.VALIDATING_TIMEOUT_SECONDS,
    ),
    names.ALLOCATOR_VALIDATING_WEBHOOK: (
        names.VALIDATE_ALLOCATOR,
        "opentelemetry.io",
        "v1alpha1",
        "targetallocators",
        ["CREATE", "UPDATE"],
        "Fail",
        names.VALIDATING_TIMEOUT_SECONDS,
    ),
    names.COLLECTOR_MUTATING_WEBHOOK: (
        names.MUTATE_COLLECTOR,
        "opentelemetry.io",
        "v1beta1",
        "opentelemetrycollectors",
        ["CREATE", "UPDATE"],
        "Fail",
        names.VALIDATING_TIMEOUT_SECONDS,
    ),
    names.POD_MUTATING_WEBHOOK: (names.MUTATE_POD, "", "v1", "pods", ["CREATE"], "Ignore", names.POD_TIMEOUT_SECONDS),
    names.NAMESPACE_POD_MUTATING_WEBHOOK: (
        names.MUTATE_POD,
        "",
        "v1",
        "pods",
        ["CREATE"],
        "Ignore",
        names.POD_TIMEOUT_SECONDS,
    ),
}


def test_the_two_configurations_hold_exactly_these_webhooks() -> None:
    v, m = validating(), mutating()
    assert (v["apiVersion"], v["kind"]) == ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
    assert (m["apiVersion"], m["kind"]) == ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
    assert v["metadata"]["name"] == m["metadata"]["name"] == "otel-operator"
    assert list(hooks(v)) == [names.COLLECTOR_VALIDATING_WEBHOOK, names.ALLOCATOR_VALIDATING_WEBHOOK]
    assert list(hooks(m)) == [
        names.COLLECTOR_MUTATING_WEBHOOK,
        names.POD_MUTATING_WEBHOOK,
        names.NAMESPACE_POD_MUTATING_WEBHOOK,
    ]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_webhook_routes_its_kind_to_its_handler(name: str) -> None:
    hook = {**hooks(validating()), **hooks(mutating())}[name]
    handler, group, version, resource, operations, policy, timeout = EXPECTED[name]
    assert hook["clientConfig"] == {
        "service": {
            "name": "otel-operator-webhook",
            "namespace": "otel-operator-system",
            "path": f"/{handler}",
            "port": 443,
        }
    }
    assert hook["rules"] == [
        {
            "apiGroups": [group],
            "apiVersions": [version],
            "operations": operations,
            "resources": [resource],
            "scope": "Namespaced",
        }
    ]
    assert hook["failurePolicy"] == policy
    assert hook["timeoutSeconds"] == timeout
    assert 1 <= hook["timeoutSeconds"] <= 30  # the API server's range
    assert hook["sideEffects"] == "None"  # also what lets `kubectl apply --dry-run=server` call them
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["matchPolicy"] == "Equivalent"
    assert "objectSelector" not in hook
    # a broken operator can neither lock itself out nor the control plane
    assert EXCLUDE in hook["namespaceSelector"]["matchExpressions"]
    if resource == "pods":
        assert hook["reinvocationPolicy"] == "IfNeeded"
    else:
        # metadata-only updates (finalizers, kopf's annotations) are not sent: only CREATE or a changed spec
        assert hook["matchConditions"] == [
            {
                "name": "spec-changed",
                "expression": "request.operation != 'UPDATE' || !has(object.spec) || !has(oldObject.spec)"
                " || object.spec != oldObject.spec"
                " || (has(object.metadata.labels) && 'opentelemetry.io/target-allocator' in object.metadata.labels"
                " ? object.metadata.labels['opentelemetry.io/target-allocator'] : '')"
                " != (has(oldObject.metadata.labels)"
                " && 'opentelemetry.io/target-allocator' in oldObject.metadata.labels"
                " ? oldObject.metadata.labels['opentelemetry.io/target-allocator'] : '')",
            }
        ]
        assert "reinvocationPolicy" not in hook


def test_only_pods_that_ask_for_a_sidecar_are_sent_and_never_twice() -> None:
    m = hooks(mutating())
    own, by_namespace = m[names.POD_MUTATING_WEBHOOK], m[names.NAMESPACE_POD_MUTATING_WEBHOOK]
    annotation = names.INJECT_ANNOTATION
    assert own["matchConditions"] == [
        {
            "name": "inject-annotation",
            "expression": f"has(object.metadata.annotations) && '{annotation}' in object.metadata.annotations",
        }
    ]
    assert own["namespaceSelector"] == {"matchExpressions": [EXCLUDE]}  # any namespace
    # the namespace's pods: by the label the operator mirrors from the namespace annotation, unless the pod decides
    assert by_namespace["namespaceSelector"] == {
        "matchLabels": {names.NAMESPACE_INJECT_LABEL: "true"},
        "matchExpressions": [EXCLUDE],
    }
    assert by_namespace["matchConditions"] == [
        {
            "name": "no-inject-annotation",
            "expression": f"!has(object.metadata.annotations) || !('{annotation}' in object.metadata.annotations)",
        }
    ]
    # both reach the one pod handler
    assert own["clientConfig"] == by_namespace["clientConfig"]


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://127.0.0.1:9443", "https://127.0.0.1:9443/validate-opentelemetry-io-v1beta1-opentelemetrycollector"),
        ("https://127.0.0.1:9443/", "https://127.0.0.1:9443/validate-opentelemetry-io-v1beta1-opentelemetrycollector"),
        (
            "https://host.example:1/base",
            "https://host.example:1/base/validate-opentelemetry-io-v1beta1-opentelemetrycollector",
        ),
    ],
)
def test_url_client(base: str, url: str) -> None:
    v = cfg.validating_configuration("x", base, operator_namespace="ops")
    assert v["webhooks"][0]["clientConfig"] == {"url": url}
    m = cfg.mutating_configuration("x", base, operator_namespace="ops")
    assert [h["clientConfig"]["url"].rsplit("/", 1)[1] for h in m["webhooks"]] == [
        names.MUTATE_COLLECTOR,
        names.MUTATE_POD,
        names.MUTATE_POD,
    ]


def test_service_port_and_ca_bundle() -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    service = cfg.ServiceRef("hooks", "ops", port=8443)
    for configuration in (
        cfg.validating_configuration("x", service, operator_namespace="ops", ca_bundle=pem),
        cfg.mutating_configuration("x", service, operator_namespace="ops", ca_bundle=pem.decode()),
    ):
        for hook in configuration["webhooks"]:
            assert hook["clientConfig"]["service"]["port"] == 8443
            # the API field is bytes: JSON carries it base64-encoded, and it decodes to the PEM
            assert base64.b64decode(hook["clientConfig"]["caBundle"]) == pem
    assert "caBundle" not in validating()["webhooks"][0]["clientConfig"]


@pytest.mark.parametrize(
    ("namespace", "excluded"),
    [("otel-operator-system", ["otel-operator-system", "kube-system"]), ("kube-system", ["kube-system"])],
)
def test_excluded_namespaces(namespace: str, excluded: list[str]) -> None:
    for configuration in (
        cfg.validating_configuration("x", SERVICE, operator_namespace=namespace),
        cfg.mutating_configuration("x", SERVICE, operator_namespace=namespace),
    ):
        for hook in configuration["webhooks"]:
            assert hook["namespaceSelector"]["matchExpressions"][0] == {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": excluded,
            }


def test_extra_selectors_narrow_but_never_widen() -> None:
    extra = {
        "matchLabels": {"team": "a", names.NAMESPACE_INJECT_LABEL: "false"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}],
    }
    objects = {"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]}
    m = hooks(mutating(extra_namespace_selector=extra, object_selector=objects))
    for hook in m.values():
        assert hook["namespaceSelector"]["matchExpressions"] == [EXCLUDE, *extra["matchExpressions"]]
        assert hook["objectSelector"] == objects
    assert m[names.POD_MUTATING_WEBHOOK]["namespaceSelector"]["matchLabels"] == extra["matchLabels"]
    # the webhook's own label wins: a value cannot turn the namespace webhook into one for other namespaces
    assert m[names.NAMESPACE_POD_MUTATING_WEBHOOK]["namespaceSelector"]["matchLabels"] == {
        "team": "a",
        names.NAMESPACE_INJECT_LABEL: "true",
    }
    for hook in hooks(validating(extra_namespace_selector=extra, object_selector=objects)).values():
        assert hook["namespaceSelector"]["matchExpressions"] == [EXCLUDE, *extra["matchExpressions"]]
        assert hook["objectSelector"] == objects
    assert extra["matchExpressions"] == [{"key": "env", "operator": "In", "values": ["prod"]}]  # not mutated


def test_policies_and_timeouts_are_parameters() -> None:
    m = hooks(mutating(failure_policy="Ignore", timeout_seconds=10, pod_failure_policy="Fail", pod_timeout_seconds=3))
    assert (
        m[names.COLLECTOR_MUTATING_WEBHOOK]["failurePolicy"],
        m[names.COLLECTOR_MUTATING_WEBHOOK]["timeoutSeconds"],
    ) == (
        "Ignore",
        10,
    )
    for pod in (names.POD_MUTATING_WEBHOOK, names.NAMESPACE_POD_MUTATING_WEBHOOK):
        assert (m[pod]["failurePolicy"], m[pod]["timeoutSeconds"]) == ("Fail", 3)
    for hook in validating(failure_policy="Ignore", timeout_seconds=7)["webhooks"]:
        assert (hook["failurePolicy"], hook["timeoutSeconds"]) == ("Ignore", 7)


def test_metadata() -> None:
    assert validating()["metadata"] == {"name": "otel-operator", "labels": dict(cfg.DEFAULT_LABELS)}
    meta = mutating(labels={"a": "b"}, annotations={"cert-manager.io/inject-ca-from": "ns/cert"})["metadata"]
    assert meta == {
        "name": "otel-operator",
        "labels": {"a": "b"},
        "annotations": {"cert-manager.io/inject-ca-from": "ns/cert"},
    }
    assert validating(labels={})["metadata"]["labels"] == {}


def test_builds_are_independent() -> None:
    """Plain dicts the caller may change (e.g. a test tightening a policy) without touching the next build."""
    first = mutating()
    first["webhooks"][1]["namespaceSelector"]["matchExpressions"][0]["values"].append("mine")
    first["metadata"]["labels"]["x"] = "y"
    assert "x" not in mutating()["metadata"]["labels"]
    assert EXCLUDE in mutating()["webhooks"][1]["namespaceSelector"]["matchExpressions"]
