"""The collector's Ingress (spec.ingress type ingress) and the checks of spec.ingress."""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.manifests import build, naming
from otel_operator.manifests.service import exposed_ports

from .common import BASE_CONFIG, built, collector, find, kinds

# otlp (grpc, http) and a prometheus exporter: the exporter's port is not exposed
CONFIG: dict[str, Any] = {
    "receivers": {"otlp": {"protocols": {"grpc": {}, "http": {}}}},
    "exporters": {"prometheus": {"endpoint": "0.0.0.0:9464"}},
    "service": {"pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["prometheus"]}}},
}


def ingress_of(**ingress: Any) -> dict[str, Any]:
    return find(built(collector(config=CONFIG, ingress={"type": "ingress", **ingress})), "Ingress")


def paths(obj: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(host, path, backend port name) of every path of every rule."""
    return [
        (rule.get("host"), path["path"], path["backend"]["service"]["port"]["name"])
        for rule in obj["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]


def test_path_rules_are_the_default() -> None:
    ingress = ingress_of(hostname="otel.example.com")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["metadata"]["name"] == "c-ingress"
    assert paths(ingress) == [
        ("otel.example.com", "/otlp-grpc", "otlp-grpc"),
        ("otel.example.com", "/otlp-http", "otlp-http"),
    ]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["pathType"] == "Prefix"
            assert path["backend"]["service"]["name"] == "c-collector"


def test_path_rule_without_hostname_has_no_host() -> None:
    assert paths(ingress_of()) == [(None, "/otlp-grpc", "otlp-grpc"), (None, "/otlp-http", "otlp-http")]


def test_subdomain_rules_give_each_port_a_host() -> None:
    ingress = ingress_of(ruleType="subdomain", hostname="example.com")
    assert paths(ingress) == [
        ("otlp-grpc.example.com", "/", "otlp-grpc"),
        ("otlp-http.example.com", "/", "otlp-http"),
    ]


def test_declared_ports_come_first_and_replace_inferred_ones() -> None:
    resource = collector(
        config=CONFIG,
        ingress={"type": "ingress"},
        ports=[{"name": "custom", "port": 9999}, {"name": "grpc", "port": 4317}],
    )
    ingress = find(built(resource), "Ingress")
    assert [p[1] for p in paths(ingress)] == ["/custom", "/grpc", "/otlp-http"]


def test_metadata_tls_and_class() -> None:
    tls = [{"hosts": ["otel.example.com"], "secretName": "otel-tls"}]
    resource = collector(
        config=CONFIG,
        labels={"team": "a"},
        annotations={"owner": "x"},
        ingress={"type": "ingress", "annotations": {"a": "b"}, "tls": tls, "ingressClassName": "nginx"},
    )
    ingress = find(built(resource), "Ingress")
    meta = ingress["metadata"]
    # spec.ingress.annotations only, not the collector's own
    assert meta["annotations"] == {"a": "b"}
    assert meta["labels"]["team"] == "a"
    assert meta["labels"]["app.kubernetes.io/name"] == "c-ingress"
    assert meta["labels"]["app.kubernetes.io/component"] == "opentelemetry-collector"
    assert ingress["spec"]["tls"] == tls
    assert ingress["spec"]["ingressClassName"] == "nginx"


def test_no_annotations_tls_or_class_unless_set() -> None:
    ingress = ingress_of()
    assert "annotations" not in ingress["metadata"]
    assert set(ingress["spec"]) == {"rules"}


@pytest.mark.parametrize("ingress", [None, {}, {"type": "route"}, {"type": ""}])
def test_no_ingress_unless_type_ingress(ingress: dict[str, Any] | None) -> None:
    spec: dict[str, Any] = {} if ingress is None else {"ingress": ingress}
    assert not [k for k in kinds(built(collector(**spec))) if k[0] == "Ingress"]


def test_no_ingress_without_receiver_ports_warns() -> None:
    config = {
        "receivers": {"prometheus": {"config": {"scrape_configs": [{"job_name": "x", "static_configs": []}]}}},
        "exporters": {"prometheus": {"endpoint": "0.0.0.0:9464"}},
        "service": {"pipelines": {"metrics": {"receivers": ["prometheus"], "exporters": ["prometheus"]}}},
    }
    result = built(collector(config=config, ingress={"type": "ingress"}))
    assert not [k for k in kinds(result) if k[0] == "Ingress"]
    assert any("spec.ingress:" in w and "no Ingress is created" in w for w in result.warnings)


def test_exposed_ports_are_receivers_and_declared_ports_only() -> None:
    spec = {"config": CONFIG, "ports": [{"name": "custom", "port": 9999}]}
    assert [p["name"] for p in exposed_ports(spec)] == ["custom", "otlp-grpc", "otlp-http"]
    assert exposed_ports({"config": BASE_CONFIG})[0] == {
        "name": "otlp-grpc",
        "port": 4317,
        "appProtocol": "grpc",
        "targetPort": 4317,
    }


def test_exposed_ports_follow_the_receivers_endpoints() -> None:
    config = {**CONFIG, "receivers": {"otlp": {"protocols": {"http": {"endpoint": "0.0.0.0:5318"}}}}}
    assert [(p["name"], p["port"]) for p in exposed_ports({"config": config})] == [("otlp-http", 5318)]


def test_name_is_truncated_to_63() -> None:
    name = naming.ingress("x" * 70)
    assert len(name) == 63
    assert name.endswith("-ingress")


# --- checks ---------------------------------------------------------------------------------------------------------


def problems(**ingress: Any) -> list[str]:
    return [str(p) for p in build(collector(ingress=ingress)).problems]


@pytest.mark.parametrize(
    ("ingress", "field", "words"),
    [
        ({"type": "nginx"}, "spec.ingress.type", '"nginx" is not an ingress type'),
        ({"type": "ingress", "ruleType": "host"}, "spec.ingress.ruleType", '"host" is not a rule type'),
        (
            {"type": "ingress", "ruleType": "subdomain"},
            "spec.ingress.hostname",
            "a valid Ingress hostname has to be defined for subdomain ruleType",
        ),
        (
            {"type": "ingress", "ruleType": "subdomain", "hostname": "*"},
            "spec.ingress.hostname",
            "a valid Ingress hostname has to be defined for subdomain ruleType",
        ),
        # upstream checks the rule type whatever the type
        (
            {"type": "route", "ruleType": "subdomain"},
            "spec.ingress.hostname",
            "a valid Ingress hostname has to be defined",
        ),
        ({"type": "ingress", "hostname": 5}, "spec.ingress.hostname", "must be a string"),
        ({"type": "ingress", "ingressClassName": ["a"]}, "spec.ingress.ingressClassName", "must be a string"),
        ({"type": "ingress", "annotations": {"a": True}}, "spec.ingress.annotations", "must map names to strings"),
        ({"type": "ingress", "tls": {"hosts": []}}, "spec.ingress.tls", "must be a list"),
        ({"type": "ingress", "tls": ["x"]}, "spec.ingress.tls[0]", "must be an object"),
        ({"type": "route", "route": "edge"}, "spec.ingress.route", "must be an object"),
    ],
)
def test_errors_name_the_field_and_the_fix(ingress: dict[str, Any], field: str, words: str) -> None:
    found = problems(**ingress)
    assert any(f": {field}: " in p and words in p for p in found), found


def test_sidecar_with_ingress_is_an_error() -> None:
    found = [str(p) for p in build(collector(mode="sidecar", ingress={"type": "ingress"})).problems]
    assert any(
        "spec.ingress.type: the OpenTelemetry Spec Ingress configuration is incorrect. Ingress can only be used in "
        "combination with the modes: deployment, daemonset, statefulset" in p
        for p in found
    ), found


def test_fields_without_a_type_are_a_warning() -> None:
    result = built(collector(ingress={"hostname": "otel.example.com"}))
    assert any("spec.ingress.type: not set, so spec.ingress (hostname) is ignored" in w for w in result.warnings)
    assert not [k for k in kinds(result) if k[0] in ("Ingress", "Route")]


def test_valid_ingress_has_no_problems_or_warnings() -> None:
    result = built(collector(ingress={"type": "ingress", "ruleType": "subdomain", "hostname": "example.com"}))
    assert not [w for w in result.warnings if "ingress" in w.lower()]
