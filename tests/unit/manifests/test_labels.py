"""Labels and annotations: upstream's keys and values, so existing selectors keep matching."""

from __future__ import annotations

import pytest

from otel_operator.manifests import BuildOptions, labels

from .common import allocating, built, everything


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("", "latest"),
        ("otel/opentelemetry-collector", "latest"),
        ("otel/opentelemetry-collector:0.158.0", "0.158.0"),
        ("registry:5000/otel/collector:0.158.0", ""),  # three parts, no digest: upstream gives ""
        ("otel/collector:0.158.0@sha256:abcd", "0.158.0"),
        ("img:" + "v" * 70, "v" * 63),
    ],
)
def test_version_label_comes_from_the_image_in_the_resource(image: str, expected: str) -> None:
    assert labels.version_label(image) == expected


def test_selector_labels() -> None:
    assert labels.selector_labels("opentelemetry", "otelcol", labels.COLLECTOR_COMPONENT) == {
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/instance": "opentelemetry.otelcol",
        "app.kubernetes.io/part-of": "opentelemetry",
        "app.kubernetes.io/component": "opentelemetry-collector",
    }
    long = labels.selector_labels("n" * 40, "m" * 40, labels.COLLECTOR_COMPONENT)
    assert long["app.kubernetes.io/instance"] == "n" * 22 + "." + "m" * 40


def test_object_labels() -> None:
    made = labels.object_labels(
        {"team": "a", "drop.me/x": "1"},
        namespace="ns",
        name="c",
        object_name="c-collector",
        image="",
        component=labels.COLLECTOR_COMPONENT,
        filters=[r"^drop\.me/"],
    )
    assert made == {
        "app.kubernetes.io/component": "opentelemetry-collector",
        "app.kubernetes.io/instance": "ns.c",
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/name": "c-collector",
        "app.kubernetes.io/part-of": "opentelemetry",
        "app.kubernetes.io/version": "latest",
        "team": "a",
    }
    # the resource's own app.kubernetes.io/name wins; the selector labels always win
    own = labels.object_labels(
        {"app.kubernetes.io/name": "mine", "app.kubernetes.io/instance": "spoof"},
        namespace="ns",
        name="c",
        object_name="c-collector",
        image="x:1",
        component=labels.COLLECTOR_COMPONENT,
    )
    assert own["app.kubernetes.io/name"] == "mine"
    assert own["app.kubernetes.io/instance"] == "ns.c"
    assert own["app.kubernetes.io/version"] == "1"


def test_allocator_selector_includes_the_name() -> None:
    assert labels.allocator_selector_labels({}, "ns", "c")["app.kubernetes.io/name"] == "c-targetallocator"
    assert labels.allocator_selector_labels({"app.kubernetes.io/name": "test"}, "ns", "c")[
        "app.kubernetes.io/name"
    ] == ("test")


def test_default_annotation_filters_drop_kubectl_and_kopf_bookkeeping() -> None:
    kept = labels.filter_annotations(
        {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "otel-operator.opentelemetry.io/last-handled-configuration": "{}",
            "kopf.zalando.org/touch-dummy": "x",
            "example.com/team": "a",
        },
        labels.DEFAULT_ANNOTATION_FILTERS,
    )
    assert kept == {"example.com/team": "a"}


def test_selector_string_is_sorted() -> None:
    assert labels.selector_string({"b": "2", "a": "1"}) == "a=1,b=2"


@pytest.mark.parametrize(
    "filters", [(), ("app.kubernetes.io/name",), (r"^app\.kubernetes\.io/",)], ids=["none", "name", "all"]
)
@pytest.mark.parametrize("mode", ["statefulset", "daemonset"])
def test_every_workload_selects_its_own_pod_template(filters: tuple[str, ...], mode: str) -> None:
    """The API server refuses a workload whose selector does not match its template (and a selector may never
    change): whatever labels the resource sets and the label filters drop, the selector stays within the
    template's labels."""
    resource = allocating(mode, allocationStrategy="per-node" if mode == "daemonset" else "consistent-hashing")
    resource["metadata"]["labels"] = {"app.kubernetes.io/name": "custom", "team": "a"}
    result = built(resource, options=BuildOptions(label_filters=filters))
    workloads = [o for o in everything(result) if o["kind"] in ("StatefulSet", "Deployment", "DaemonSet")]
    assert {o["kind"] for o in workloads} == {mode.capitalize().replace("set", "Set"), "Deployment"}
    for workload in workloads:
        selector = workload["spec"]["selector"]["matchLabels"]
        template = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= template.items(), (workload["kind"], selector, template)
