"""The CRD files in crds/ are generated from the package and carry upstream's API surface."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_operator.api.crds import (
    STANDIN_ANNOTATION,
    all_crds,
    collector_crd,
    crd_filename,
    monitoring_crds,
    render_crd,
    target_allocator_crd,
)

ROOT = Path(__file__).resolve().parents[2]
STANDINS = ROOT / "tests" / "data" / "standin-crds"


@pytest.mark.parametrize(("folder", "crds"), [("crds", all_crds), ("tests/data/standin-crds", monitoring_crds)])
def test_crd_folders_match_the_generator(folder: str, crds: Callable[[], list[dict[str, Any]]]) -> None:
    expected = {crd_filename(c): render_crd(c) for c in crds()}
    actual = {p.name: p.read_text() for p in (ROOT / folder).glob("*.yaml")}
    assert sorted(actual) == sorted(expected), "run `make crds`"
    for name, text in expected.items():
        assert actual[name] == text, f"{folder}/{name} is stale: run `make crds`"


def test_crds_holds_only_our_own_and_the_stand_ins_say_what_they_are() -> None:
    assert {p.name for p in (ROOT / "crds").glob("*")} == {
        "opentelemetry.io_opentelemetrycollectors.yaml",
        "opentelemetry.io_targetallocators.yaml",
    }
    for path in STANDINS.glob("*.yaml"):
        assert path.name.endswith(".standin.yaml")
        text = path.read_text()
        assert "NOT prometheus-operator's CRD" in text.splitlines()[1]
        assert STANDIN_ANNOTATION in yaml.safe_load(text)["metadata"]["annotations"]


def _version(crd: dict[str, Any]) -> dict[str, Any]:
    """The storage version (the collector's CRD also serves the deprecated v1alpha1, see below)."""
    (ver,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    return ver


def test_collector_crd_serves_v1alpha1_through_the_conversion_webhook() -> None:
    crd = collector_crd()
    alpha, beta = crd["spec"]["versions"]
    assert (alpha["name"], alpha["served"], alpha["storage"], alpha["deprecated"]) == ("v1alpha1", True, False, True)
    assert "deprecated" in alpha["deprecationWarning"]
    assert alpha["subresources"] == beta["subresources"]  # kubectl scale and status work in both
    assert alpha["additionalPrinterColumns"] == beta["additionalPrinterColumns"]
    spec = alpha["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}  # the webhook converts
    conversion = crd["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    assert conversion["webhook"]["conversionReviewVersions"] == ["v1"]
    service = conversion["webhook"]["clientConfig"]["service"]
    assert (service["name"], service["path"], service["port"]) == ("otel-operator-webhook", "/convert", 443)
    assert "caBundle" not in conversion["webhook"]["clientConfig"]  # the operator sets it


def test_collector_crd_surface() -> None:
    crd = collector_crd()
    assert crd["metadata"]["name"] == "opentelemetrycollectors.opentelemetry.io"
    assert crd["spec"]["names"]["shortNames"] == ["otelcol", "otelcols"]
    ver = _version(crd)
    assert (ver["name"], ver["served"], ver["storage"]) == ("v1beta1", True, True)
    assert ver["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.scale.replicas",
        "labelSelectorPath": ".status.scale.selector",
    }
    assert "status" in ver["subresources"]
    columns = [(c["name"], c["jsonPath"]) for c in ver["additionalPrinterColumns"]]
    assert columns == [
        ("Mode", ".spec.mode"),
        ("Version", ".status.version"),
        ("Ready", ".status.scale.statusReplicas"),
        ("Age", ".metadata.creationTimestamp"),
        ("Image", ".status.image"),
        ("Management", ".spec.managementState"),
    ]
    spec = ver["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["config"]
    config = spec["properties"]["config"]
    assert config["x-kubernetes-preserve-unknown-fields"] is True
    assert config["properties"]["receivers"]["x-kubernetes-preserve-unknown-fields"] is True


def test_target_allocator_crd_surface() -> None:
    crd = target_allocator_crd()
    assert crd["metadata"]["name"] == "targetallocators.opentelemetry.io"
    ver = _version(crd)
    assert ver["name"] == "v1alpha1"
    assert [c["name"] for c in ver["additionalPrinterColumns"]] == ["Age", "Image", "Management"]
    props = ver["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert {"scrapeConfigs", "prometheusCR", "allocationStrategy", "global"} <= set(props)


def test_monitoring_crds_are_structural_stand_ins() -> None:
    names = {
        c["metadata"]["name"]: _version(c)["name"]
        for c in monitoring_crds()
        if c["spec"]["group"] == "monitoring.coreos.com"
    }
    assert names == {
        "servicemonitors.monitoring.coreos.com": "v1",
        "podmonitors.monitoring.coreos.com": "v1",
        "probes.monitoring.coreos.com": "v1",
        "scrapeconfigs.monitoring.coreos.com": "v1alpha1",
    }


def _walk(schema: dict[str, Any], path: str = "") -> list[str]:
    """Structural-schema rule: every node has a type, unless it is int-or-string or preserves unknown fields."""
    bad = [] if ("type" in schema or schema.get("x-kubernetes-int-or-string")) else [path or "<root>"]
    for name, sub in (schema.get("properties") or {}).items():
        bad += _walk(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            bad += _walk(schema[key], f"{path}[{key}]")
    return bad


def test_every_schema_node_is_typed() -> None:
    for crd in [*all_crds(), *monitoring_crds()]:
        for ver in crd["spec"]["versions"]:
            assert _walk(ver["schema"]["openAPIV3Schema"]) == [], crd["metadata"]["name"]


def test_files_parse_as_single_documents() -> None:
    for path in [*(ROOT / "crds").glob("*.yaml"), *STANDINS.glob("*.yaml")]:
        docs = list(yaml.safe_load_all(path.read_text()))
        assert len(docs) == 1
        assert docs[0]["kind"] == "CustomResourceDefinition"
