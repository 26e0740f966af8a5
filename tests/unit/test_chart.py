"""The Helm chart, the kubectl manifest and the Dockerfile, checked with Helm's own engine (hack/helm.py's CLI).

No cluster here: lint, render, the values schema, generated files up to date, RBAC covering what the operator grants.
The server-side dry run, the install and the operator running as the chart's ServiceAccount are in
tests/integration/test_chart.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_operator.cli import build_parser
from otel_operator.manifests import rbac
from otel_operator.manifests.model import ALLOCATOR_ARGS

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "otel-operator"
NON_DEFAULT = CHART / "ci" / "non-default-values.yaml"
sys.path.insert(0, str(ROOT / "hack"))

import helm as helm_tool  # noqa: E402  (hack/ is not a package)


def helm_binary() -> str:
    path = helm_tool.find(build=False)
    if path is None:
        pytest.fail(f"Helm {helm_tool.HELM_VERSION} is not built: run `make helm` (make test does)")
    return path


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([helm_binary(), *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{done.stderr}")
    return done


def render(*args: str, release: str = "otel-operator", namespace: str = "otel-operator-system") -> list[dict[str, Any]]:
    """`helm template` of the chart: the objects, CRDs excluded unless `--include-crds` is passed."""
    out = helm("template", release, str(CHART), "--namespace", namespace, *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "Issuer", "Certificate")


def is_webhook_object(obj: dict[str, Any]) -> bool:
    """The admission webhooks' own objects (their Service, Secret Role, configurations, certificate): tested in
    test_chart_webhooks.py."""
    return obj["kind"] in WEBHOOK_KINDS or obj["metadata"]["name"].endswith(("-webhook", "-webhook-cert"))


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One object of each kind, the webhooks' own objects left out."""
    found: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if is_webhook_object(obj):
            continue
        assert obj["kind"] not in found, f"two {obj['kind']} objects; the tests expect one of each"
        found[obj["kind"]] = obj
    return found


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = by_kind(objects)["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    return dict(containers[0])


# --------------------------------------------------------------------------- lint and render


def test_helm_is_the_pinned_version() -> None:
    assert helm("version", "--short").stdout.strip().split("+")[0] == helm_tool.HELM_VERSION


@pytest.mark.parametrize("values", [[], ["-f", str(NON_DEFAULT)]], ids=["defaults", "non-default"])
def test_lint_strict(values: list[str]) -> None:
    done = helm("lint", "--strict", str(CHART), *values)
    assert "0 chart(s) failed" in done.stdout


def test_default_render() -> None:
    objects = render()
    kinds = by_kind(objects)
    assert sorted(kinds) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    metrics = kinds["Service"]  # the operator's /metrics
    assert metrics["metadata"]["name"] == "otel-operator-metrics"
    assert metrics["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    deployment = kinds["Deployment"]
    assert deployment["metadata"]["namespace"] == "otel-operator-system"
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate"}  # safe: the new pod waits for the Lease
    # leader election: the operator may read and renew exactly one kind of object in its own namespace
    assert kinds["Role"]["metadata"]["namespace"] == "otel-operator-system"
    assert kinds["Role"]["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
    ]
    assert kinds["RoleBinding"]["roleRef"]["name"] == kinds["Role"]["metadata"]["name"]
    assert kinds["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "otel-operator", "namespace": "otel-operator-system"}
    ]
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == kinds["ServiceAccount"]["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = operator_container(objects)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    assert container["image"] == "ghcr.io/otel-operator/otel-operator:0.1.0"
    assert "command" not in container  # the image's entrypoint is otel-operator
    assert container["args"] == [
        "run",
        "--log-format=json",
        "--liveness=http://0.0.0.0:8081/healthz",
        "--collector-image=ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-k8s:0.158.0",
        "--target-allocator-image=ghcr.io/otel-operator/otel-operator:0.1.0",
        "--metrics-addr=:8080",
        "--leader-elect",
        "--leader-election-namespace=otel-operator-system",
        "--webhooks",
        "--webhook-port=9443",
        "--webhook-service=otel-operator-webhook",
        "--webhook-secret=otel-operator-webhook-cert",
        "--webhook-configuration=otel-operator",
        "--webhook-cert-dir=/tmp/k8s-webhook-server/serving-certs",
    ]
    # alive while the process runs; ready once the webhooks accept connections (leader or not)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["ports"] == [
        {"name": "health", "containerPort": 8081, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 8080, "protocol": "TCP"},
        {"name": "webhook", "containerPort": 9443, "protocol": "TCP"},
    ]
    binding = kinds["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == kinds["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "otel-operator", "namespace": "otel-operator-system"}
    ]


def test_more_than_one_replica_needs_leader_election() -> None:
    assert by_kind(render("--set", "replicas=3"))["Deployment"]["spec"]["replicas"] == 3
    done = helm(
        "template", "x", str(CHART), "--set", "replicas=2", "--set", "leaderElection.enabled=false", check=False
    )
    assert done.returncode != 0
    assert "replicas > 1 needs leaderElection.enabled: true" in done.stderr
    alone = by_kind(render("--set", "leaderElection.enabled=false"))
    assert alone["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    assert "Role" not in alone
    assert "--leader-elect" not in operator_container(list(alone.values()))["args"]


def test_non_default_render() -> None:
    objects = render("-f", str(NON_DEFAULT), release="obs")
    kinds = by_kind(objects)
    for obj in objects:
        assert obj["metadata"]["name"] in (
            "otelop",
            "otel-operator-sa",
            "otelop-leader-election",
            "otelop-metrics",
            "otelop-webhook",
            "otelop-serving-cert",
        )
        assert obj["metadata"]["labels"]["cost-center"] == "42"
    assert kinds["ServiceAccount"]["metadata"]["annotations"] == {"example.com/role": "operator"}
    pod = kinds["Deployment"]["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "platform"
    assert pod["metadata"]["annotations"] == {"example.com/scrape": "false"}
    assert pod["spec"]["serviceAccountName"] == "otel-operator-sa"
    assert kinds["Deployment"]["spec"]["replicas"] == 2  # a warm standby, behind the Lease
    monitor = kinds["ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= kinds["Service"]["metadata"]["labels"].items()
    assert pod["spec"]["imagePullSecrets"] == [{"name": "mirror-pull"}]
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    assert pod["spec"]["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in pod["spec"]["affinity"]
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "observability"}  # merged
    container = operator_container(objects)
    assert container["image"] == "registry.example.com/mirror/otel-operator:0.1.0-rc1"
    assert container["imagePullPolicy"] == "Always"
    assert container["env"] == [  # the downward API first (the Lease's identity), then extraEnv
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "TZ", "value": "UTC"},
    ]
    assert container["ports"][0]["containerPort"] == 9090
    # the arguments are ones `otel-operator run` accepts, meaning what the values say
    args = build_parser().parse_args(container["args"])
    assert args.log_format == "plain"
    assert args.liveness == "http://0.0.0.0:9090/healthz"
    assert args.collector_image == "registry.example.com/mirror/opentelemetry-collector-contrib:0.158.0"
    assert args.target_allocator_image == "registry.example.com/mirror/otel-allocator:0.1.0-rc1"
    assert args.namespace == ["observability", "team-*"]
    assert args.no_allocator_rbac is True
    assert args.no_collector_rbac is True
    assert args.verbose is True
    # without allocator RBAC the operator neither writes cluster roles nor holds what allocators would be granted
    rules = kinds["ClusterRole"]["rules"]
    assert not granted(rules, "rbac.authorization.k8s.io", "clusterroles", "create")
    # (it still manages the allocators' mTLS Secrets, but never watches Secrets as an allocator would)
    assert not granted(rules, "", "secrets", "watch")
    assert granted(rules, "", "secrets", "create")


def test_default_args_parse_as_run() -> None:
    args = build_parser().parse_args(operator_container(render())["args"])
    assert args.no_allocator_rbac is False
    assert args.no_collector_rbac is False
    assert args.namespace in (None, [])
    assert args.kubeconfig is None  # in the pod: the ServiceAccount's token


def test_rbac_create_false_renders_no_rbac() -> None:
    kinds = by_kind(render("--set", "rbac.create=false", "--set", "serviceAccount.create=false",
                           "--set", "serviceAccount.name=mine"))  # fmt: skip
    assert sorted(kinds) == ["Deployment", "Service"]  # the metrics Service is not RBAC
    assert kinds["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == "mine"


def test_one_value_names_the_whole_image() -> None:
    ref = "registry.example.com:5000/team/otel-operator@sha256:" + "a" * 64
    objects = render("--set", f"image.ref={ref}", "--set", "image.tag=ignored")
    container = operator_container(objects)
    assert container["image"] == ref
    assert f"--target-allocator-image={ref}" in container["args"]  # the allocators run the same image


# --------------------------------------------------------------------------- the values schema


@pytest.mark.parametrize(
    ("flag", "named"),
    [
        ("logFormat=xml", "/logFormat"),
        ("healthPort=80", "/healthPort"),
        ("allocatorRbac=maybe", "/allocatorRbac"),
        ("collectorRbac=maybe", "/collectorRbac"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("image.ref=has a space", "/image/ref"),
        ("resources.requests.memory=lots", "/resources/requests/memory"),
        ("watchNamespaces[0]=Not_A_Namespace", "/watchNamespaces/0"),
        ("replicaCount=2", "replicaCount"),
    ],
)
def test_schema_rejects_bad_value_naming_it(flag: str, named: str) -> None:
    done = helm("template", "r", str(CHART), "--set", flag, check=False)
    assert done.returncode != 0, f"--set {flag} rendered"
    assert "values don't meet the specifications of the schema" in done.stderr
    assert named in done.stderr, done.stderr


def test_schema_describes_every_default_value() -> None:
    """Every key of values.yaml is in the schema (additionalProperties is false, so an undescribed key would fail)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(value: Any, node: dict[str, Any], where: str) -> None:
        if "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        if isinstance(value, dict) and "properties" in node:
            for key, sub in value.items():
                assert key in node["properties"], f"{where}{key} is not in values.schema.json"
                walk(sub, node["properties"][key], f"{where}{key}.")

    walk(values, schema, "")


# --------------------------------------------------------------------------- generated files


def test_chart_crds_are_the_repository_crds() -> None:
    chart = {p.name: p.read_text() for p in sorted((CHART / "crds").glob("*"))}
    repo = {p.name: p.read_text() for p in sorted((ROOT / "crds").glob("opentelemetry.io_*.yaml"))}
    assert sorted(repo) == ["opentelemetry.io_opentelemetrycollectors.yaml", "opentelemetry.io_targetallocators.yaml"]
    assert chart == repo, "charts/otel-operator/crds differs from crds/: run `make manifests`"


def test_manifests_up_to_date() -> None:
    """What CI fails on: `make manifests` would change the chart's crds/ or deploy/otel-operator.yaml."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "helm.py"), "manifests", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_manifest_is_namespace_crds_and_default_chart() -> None:
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "otel-operator.yaml").read_text()) if d]
    assert docs[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "otel-operator-system"}}
    crds = [d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert sorted(crds) == ["opentelemetrycollectors.opentelemetry.io", "targetallocators.opentelemetry.io"]
    rest = [d for d in docs[1:] if d["kind"] != "CustomResourceDefinition"]
    assert rest == render()


def test_manifests_check_notices_drift(tmp_path: Path) -> None:
    """The check is not vacuous: a chart change that is not re-rendered makes it fail."""
    values = CHART / "values.yaml"
    original = values.read_text()
    try:
        values.write_text(original.replace("logFormat: json", "logFormat: full"))
        assert helm_tool.manifests(check=True) == 1
    finally:
        values.write_text(original)
    assert helm_tool.manifests(check=True) == 0


# --------------------------------------------------------------------------- RBAC


def granted(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r.get("verbs", [])
        for r in rules
    )


def test_operator_holds_everything_a_collector_role_can_grant() -> None:
    """Every component that gets a ClusterRole, with the options that widen it: the operator holds it all (the
    lease writes of k8s_leader_elector aside: the chart does not hand out the control plane's leases)."""
    from otel_operator.manifests import collector_rbac

    config = {
        "receivers": {
            "kubeletstats": {"extra_metadata_labels": ["container.id"]},
            "k8s_cluster": {"distribution": "openshift"},
            "k8s_events": {},
        },
        "processors": {
            "k8sattributes": {
                "extract": {
                    "metadata": ["k8s.node.name", "k8s.cronjob.uid"],
                    "labels": [{"tag_name": "a", "key": "b", "from": "cronjob"}],
                }
            },
            "resourcedetection": {"detectors": ["k8snode", "openshift"]},
        },
        "exporters": {"debug": {}},
        "extensions": {"k8s_observer": {"observe_pods": True, "observe_services": True, "observe_nodes": True}},
        "service": {
            "extensions": ["k8s_observer"],
            "pipelines": {
                "metrics": {
                    "receivers": ["kubeletstats", "k8s_cluster", "k8s_events"],
                    "processors": ["k8sattributes", "resourcedetection"],
                    "exporters": ["debug"],
                }
            },
        },
    }
    needed = collector_rbac.rules(config)
    assert len(needed) > 5
    held = by_kind(render())["ClusterRole"]["rules"]
    missing = [
        (group, resource, verb)
        for rule in needed
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        if not granted(held, group, resource, verb)
    ]
    assert not missing, f"the chart's ClusterRole lacks what collectors are granted: {missing}"


def test_operator_holds_everything_an_allocator_role_can_grant() -> None:
    """The API server lets the operator grant only what it holds (it has no `escalate`): compare with the
    builder's rules for a configuration that asks for every read it knows."""
    everything = {
        "config": {
            "scrape_configs": [
                {
                    "job_name": role,
                    "kubernetes_sd_configs": [
                        {
                            "role": role,
                            "attach_metadata": {"node": True, "namespace": True, "deployment": True, "cronjob": True},
                        }
                    ],
                }
                for role in ("pod", "service", "endpoints", "endpointslice", "node", "ingress")
            ]
        },
        "prometheus_cr": {"enabled": True},
    }
    needed = rbac.rules(everything)
    held = by_kind(render())["ClusterRole"]["rules"]
    missing = [
        (group, resource, verb)
        for rule in needed
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        if not granted(held, group, resource, verb)
    ]
    assert not missing, f"the chart's ClusterRole lacks what allocators are granted: {missing}"
    assert not any("escalate" in r["verbs"] or "bind" in r["verbs"] or "*" in r["verbs"] for r in held)


def test_operator_can_write_every_kind_it_reconciles() -> None:
    from otel_operator.reconcile.kube import KINDS

    held = by_kind(render())["ClusterRole"]["rules"]
    for name, kind in KINDS.items():
        for verb in ("get", "list", "watch", "create", "patch", "delete"):
            assert granted(held, kind.group, kind.plural, verb), f"{verb} {name}"
    for resource in ("opentelemetrycollectors", "targetallocators"):
        for verb in ("list", "watch", "patch"):
            assert granted(held, "opentelemetry.io", resource, verb)
        assert granted(held, "opentelemetry.io", f"{resource}/status", "patch")
    assert granted(held, "", "events", "create")
    assert granted(held, "apiextensions.k8s.io", "customresourcedefinitions", "list")


# --------------------------------------------------------------------------- Dockerfile (no docker here: as text)


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, grouped by stage: (INSTRUCTION, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def test_dockerfile_final_stage() -> None:
    stages = dockerfile_stages()
    assert len(stages) == 2, "a build stage for the wheels and a runtime stage"
    args = dict(line.split("=", 1) for line in re.findall(r"^ARG (\S+=\S+)", (ROOT / "Dockerfile").read_text(), re.M))
    final = stages[-1]
    base = final[0][1]
    base = args.get(base.strip("${}"), base)
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base
    runs = " ".join(rest for ins, rest in final if ins == "RUN")
    assert "pip install --no-index" in runs, "the runtime stage installs only the built wheels"
    assert not re.search(r"apt-get install|gcc|build-essential", runs), "no build tools in the image"
    users = [rest for ins, rest in final if ins == "USER"]
    assert users, "runs as a non-root user"
    assert users[-1].split(":")[0] == "65532", "the chart's podSecurityContext.runAsUser"
    entrypoint = [json.loads(rest) for ins, rest in final if ins == "ENTRYPOINT"]
    assert entrypoint == [["otel-operator"]], "the allocator's Deployment passes only args"
    assert ALLOCATOR_ARGS[0] == "allocator"
    build = stages[0]
    assert any(ins == "RUN" and "pip wheel" in rest for ins, rest in build)


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert {"*", "!operator/", "!pyproject.toml", "!README.md"} <= set(lines)


def test_readme_values_table_is_generated() -> None:
    readme = (ROOT / "README.md").read_text()
    begin, end = "<!-- values-table:begin -->\n", "<!-- values-table:end -->"
    assert begin in readme, "README.md lacks the values table"
    current = readme.split(begin, 1)[1].split(end, 1)[0]
    assert current == helm_tool.values_table(), (
        "README's values table is stale: `.venv/bin/python hack/helm.py values-table`"
    )
