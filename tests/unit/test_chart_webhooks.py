"""The chart's admission webhooks, rendered by Helm: the same webhooks as admission/configurations.py builds, the
Service and Deployment wiring that lets the API server reach them, the serving certificate (operator-managed or
cert-manager's) and the RBAC the operator needs for them; with admissionWebhooks.enabled false, none of it.
"""

from __future__ import annotations

from typing import Any

import pytest

from otel_operator.admission import configurations, names
from otel_operator.cli import build_parser
from tests.unit.test_chart import CHART, NON_DEFAULT, granted, helm, render

WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
CERT_DIR = "/tmp/k8s-webhook-server/serving-certs"


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, (
        f"{len(found)} {kind} {name or ''}: {[o['metadata']['name'] for o in of_kind(objects, kind)]}"
    )
    return found[0]


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (operator,) = pod_spec(objects)["containers"]
    return dict(operator)


# --------------------------------------------------------------------------- the same webhooks as the builder


@pytest.mark.parametrize(
    ("args", "release", "namespace", "fullname", "builder_options"),
    [
        ([], "otel-operator", "otel-operator-system", "otel-operator", {}),
        (
            ["-f", str(NON_DEFAULT)],
            "obs",
            "obs",
            "otelop",
            {
                "failure_policy": "Ignore",
                "timeout_seconds": 10,
                "pod_failure_policy": "Fail",
                "pod_timeout_seconds": 3,
                "extra_namespace_selector": {
                    "matchLabels": {"team": "platform"},
                    "matchExpressions": [{"key": "environment", "operator": "In", "values": ["staging", "production"]}],
                },
                "object_selector": {
                    "matchExpressions": [{"key": "example.com/skip-otel-webhooks", "operator": "DoesNotExist"}]
                },
            },
        ),
        # the release in kube-system: excluded once
        ([], "hooks", "kube-system", "hooks-otel-operator", {}),
    ],
    ids=["defaults", "non-default", "kube-system"],
)
def test_chart_webhooks_are_the_builders(
    args: list[str], release: str, namespace: str, fullname: str, builder_options: dict[str, Any]
) -> None:
    objects = render(*args, release=release, namespace=namespace)
    service = one(objects, "Service", f"{fullname}-webhook")
    client = configurations.ServiceRef(service["metadata"]["name"], namespace)
    common = {k: v for k, v in builder_options.items() if not k.startswith("pod_")}
    want = {
        "ValidatingWebhookConfiguration": configurations.validating_configuration(
            fullname, client, operator_namespace=namespace, **common
        ),
        "MutatingWebhookConfiguration": configurations.mutating_configuration(
            fullname, client, operator_namespace=namespace, **builder_options
        ),
    }
    for kind in WEBHOOK_KINDS:
        chart = one(objects, kind)
        assert chart["metadata"]["name"] == fullname
        assert "namespace" not in chart["metadata"]  # cluster-scoped
        # everything: names, rules, paths, policies, timeouts, selectors, match conditions (no caBundle in either)
        assert chart["webhooks"] == want[kind]["webhooks"], kind
        assert chart["metadata"]["labels"]["app.kubernetes.io/instance"] == release


def test_default_values_are_the_builders_defaults() -> None:
    """The chart's defaults and the builder's (names.py's timeouts) cannot drift apart."""
    objects = render()
    for kind in WEBHOOK_KINDS:
        for hook in one(objects, kind)["webhooks"]:
            is_pod = hook["rules"][0]["resources"] == ["pods"]
            assert hook["timeoutSeconds"] == (
                names.POD_TIMEOUT_SECONDS if is_pod else names.VALIDATING_TIMEOUT_SECONDS
            ), hook["name"]
            assert hook["failurePolicy"] == ("Ignore" if is_pod else "Fail"), hook["name"]


# --------------------------------------------------------------------------- how the API server reaches the operator


def test_service_reaches_the_operators_webhook_port() -> None:
    objects = render()
    service = one(objects, "Service", "otel-operator-webhook")
    assert service["metadata"]["namespace"] == "otel-operator-system"
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "webhook", "protocol": "TCP"}]
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {"name": "webhook", "containerPort": 9443, "protocol": "TCP"} in container(objects)["ports"]
    for kind in WEBHOOK_KINDS:
        for hook in one(objects, kind)["webhooks"]:
            ref = hook["clientConfig"]["service"]
            assert (ref["name"], ref["namespace"], ref["port"]) == (
                "otel-operator-webhook",
                "otel-operator-system",
                443,
            )


def test_operator_args_name_the_charts_objects() -> None:
    objects = render()
    operator = container(objects)
    args = build_parser().parse_args(operator["args"])
    assert args.webhooks is True
    assert args.webhook_port == 9443
    assert args.webhook_service == one(objects, "Service", "otel-operator-webhook")["metadata"]["name"]
    assert args.webhook_secret == "otel-operator-webhook-cert" == names.DEFAULT_SECRET
    assert {one(objects, kind)["metadata"]["name"] for kind in WEBHOOK_KINDS} == {args.webhook_configuration}
    assert args.webhook_cert_dir == CERT_DIR
    assert args.webhook_cert_manager is False
    # the Secret and Service live in the pod's namespace, which the downward API gives it
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in operator["env"]
    # the root filesystem is read-only: the operator writes its certificate files to a memory-backed emptyDir
    mounts = {m["name"]: m for m in operator["volumeMounts"]}
    assert mounts["webhook-cert"] == {"name": "webhook-cert", "mountPath": CERT_DIR}
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes["webhook-cert"] == {"name": "webhook-cert", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
    assert operator["securityContext"]["readOnlyRootFilesystem"] is True


def test_release_names_flow_into_the_args() -> None:
    objects = render(release="obs", namespace="observability")
    args = build_parser().parse_args(container(objects)["args"])
    assert args.webhook_service == "obs-otel-operator-webhook"
    assert args.webhook_secret == "obs-otel-operator-webhook-cert"
    assert args.webhook_configuration == "obs-otel-operator"
    one(objects, "Service", args.webhook_service)
    role = one(objects, "Role", "obs-otel-operator-webhook-cert")
    assert role["rules"][1]["resourceNames"] == [args.webhook_secret]


# --------------------------------------------------------------------------- RBAC


def test_operator_managed_certificate_rbac() -> None:
    objects = render()
    role = one(objects, "Role", "otel-operator-webhook-cert")
    assert role["metadata"]["namespace"] == "otel-operator-system"
    # create cannot be limited by name; every other verb only on the one Secret
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["otel-operator-webhook-cert"],
            "verbs": ["get", "list", "watch", "update", "patch"],
        },
    ]
    binding = one(objects, "RoleBinding", "otel-operator-webhook-cert")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "otel-operator-webhook-cert",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "otel-operator", "namespace": "otel-operator-system"}
    ]
    # cluster-wide Secret writes only for the allocators' mTLS certificates, which mtlsCertificates=false turns off
    rules = one(render("--set", "mtlsCertificates=false"), "ClusterRole")["rules"]
    assert not any(granted(rules, "", "secrets", verb) for verb in ("create", "update", "patch"))
    assert all(granted(one(objects, "ClusterRole")["rules"], "", "secrets", v) for v in ("create", "patch", "delete"))


def test_cluster_role_for_the_webhooks() -> None:
    rules = one(render(), "ClusterRole")["rules"]
    group = "admissionregistration.k8s.io"
    for resource in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        for verb in ("get", "list", "watch"):
            assert granted(rules, group, resource, verb), (resource, verb)
        writes = [r for r in rules if group in r["apiGroups"] and resource in r["resources"] and "patch" in r["verbs"]]
        assert writes
        assert [r.get("resourceNames") for r in writes] == [["otel-operator"]]  # only its own configurations
        assert all("update" in r["verbs"] for r in writes)
    assert granted(rules, "", "namespaces", "patch")  # mirrors the inject annotation into the namespace label
    for resource in ("replicasets", "deployments"):
        assert granted(rules, "apps", resource, "get")  # the sidecar's attributes name the owner Deployment


def test_rbac_create_false_renders_no_webhook_rbac() -> None:
    objects = render(
        "--set", "rbac.create=false", "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=mine"
    )
    assert not of_kind(objects, "Role")
    assert not of_kind(objects, "ClusterRole")
    assert len(of_kind(objects, "ValidatingWebhookConfiguration")) == 1  # the webhooks themselves stay


# --------------------------------------------------------------------------- cert-manager


def test_cert_manager_self_signed() -> None:
    objects = render("--set", "admissionWebhooks.certManager.enabled=true")
    issuer = one(objects, "Issuer")
    assert issuer["apiVersion"] == "cert-manager.io/v1"
    assert issuer["metadata"] == {
        **issuer["metadata"],
        "name": "otel-operator-selfsigned-issuer",
        "namespace": "otel-operator-system",
    }
    assert issuer["spec"] == {"selfSigned": {}}
    cert = one(objects, "Certificate")
    assert cert["metadata"]["namespace"] == "otel-operator-system"
    assert cert["spec"] == {
        "secretName": "otel-operator-webhook-cert",
        "dnsNames": [
            "otel-operator-webhook.otel-operator-system.svc",
            "otel-operator-webhook.otel-operator-system.svc.cluster.local",
        ],
        "issuerRef": {"kind": "Issuer", "name": "otel-operator-selfsigned-issuer"},
        "privateKey": {"rotationPolicy": "Always"},
    }
    # cainjector fills both configurations' caBundle from that Certificate
    for kind in WEBHOOK_KINDS:
        assert one(objects, kind)["metadata"]["annotations"] == {
            "cert-manager.io/inject-ca-from": f"otel-operator-system/{cert['metadata']['name']}"
        }
    # the operator reads cert-manager's Secret from the mount and neither creates nor patches anything
    operator = container(objects)
    args = build_parser().parse_args(operator["args"])
    assert args.webhook_cert_manager is True
    assert args.webhook_secret == cert["spec"]["secretName"]
    mounts = {m["name"]: m for m in operator["volumeMounts"]}
    assert mounts["webhook-cert"] == {"name": "webhook-cert", "mountPath": args.webhook_cert_dir, "readOnly": True}
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    assert volumes["webhook-cert"] == {"name": "webhook-cert", "secret": {"secretName": cert["spec"]["secretName"]}}
    assert not [r for r in of_kind(objects, "Role") if r["metadata"]["name"].endswith("-webhook-cert")]


def test_cert_manager_with_an_issuer_of_yours() -> None:
    objects = render("-f", str(NON_DEFAULT), release="obs", namespace="obs")
    assert not of_kind(objects, "Issuer")
    cert = one(objects, "Certificate")
    assert cert["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "company-ca", "group": "cert-manager.io"}
    assert (cert["spec"]["duration"], cert["spec"]["renewBefore"]) == ("2160h", "360h")
    assert cert["spec"]["dnsNames"][0] == "otelop-webhook.obs.svc"
    for kind in WEBHOOK_KINDS:
        assert (
            one(objects, kind)["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "obs/otelop-serving-cert"
        )


def test_operator_managed_mode_has_no_cert_manager_objects() -> None:
    objects = render()
    assert not of_kind(objects, "Issuer")
    assert not of_kind(objects, "Certificate")
    for kind in WEBHOOK_KINDS:
        assert "annotations" not in one(objects, kind)["metadata"]  # the operator patches the caBundle itself
        for hook in one(objects, kind)["webhooks"]:
            assert "caBundle" not in hook["clientConfig"]  # so `helm upgrade` never resets the operator's


# --------------------------------------------------------------------------- disabled


def test_disabled_renders_none_of_it() -> None:
    objects = render("--set", "admissionWebhooks.enabled=false", "--set", "admissionWebhooks.certManager.enabled=true")
    kinds = {o["kind"] for o in objects}
    assert not kinds & {*WEBHOOK_KINDS, "Issuer", "Certificate"}
    assert [o["metadata"]["name"] for o in of_kind(objects, "Service")] == ["otel-operator-metrics"]
    assert [o["metadata"]["name"] for o in of_kind(objects, "Role")] == ["otel-operator-leader-election"]
    operator = container(objects)
    assert not [a for a in operator["args"] if a.startswith("--webhook")]
    assert build_parser().parse_args(operator["args"]).webhooks is False
    assert "webhook" not in {p["name"] for p in operator["ports"]}
    assert "webhook-cert" not in {m["name"] for m in operator["volumeMounts"]}
    assert "webhook-cert" not in {v["name"] for v in pod_spec(objects)["volumes"]}
    rules = one(objects, "ClusterRole")["rules"]
    assert not any("admissionregistration.k8s.io" in r["apiGroups"] for r in rules)
    assert not granted(rules, "", "namespaces", "patch")


# --------------------------------------------------------------------------- the values schema


@pytest.mark.parametrize(
    ("flag", "named"),
    [
        ("admissionWebhooks.failurePolicy=Sometimes", "/admissionWebhooks/failurePolicy"),
        ("admissionWebhooks.pods.failurePolicy=Never", "/admissionWebhooks/pods/failurePolicy"),
        ("admissionWebhooks.timeoutSeconds=31", "/admissionWebhooks/timeoutSeconds"),
        ("admissionWebhooks.pods.timeoutSeconds=0", "/admissionWebhooks/pods/timeoutSeconds"),
        ("admissionWebhooks.namespaceSelector.matchLabel.a=b", "/admissionWebhooks/namespaceSelector"),
        ("admissionWebhooks.objectSelector.matchExpressions[0].operator=Like", "/admissionWebhooks/objectSelector"),
        ("admissionWebhooks.certManager.duration=90d", "/admissionWebhooks/certManager/duration"),
        ("admissionWebhooks.certManager.issuerRef.kind=ClusterIssuer", "/admissionWebhooks/certManager/issuerRef"),
        ("admissionWebhooks.create=true", "create"),
    ],
)
def test_schema_rejects_bad_webhook_values(flag: str, named: str) -> None:
    done = helm("template", "r", str(CHART), "--set", flag, check=False)
    assert done.returncode != 0, f"--set {flag} rendered"
    assert "values don't meet the specifications of the schema" in done.stderr
    assert named in done.stderr, done.stderr


def test_schema_accepts_a_full_issuer_ref() -> None:
    objects = render(
        "--set",
        "admissionWebhooks.certManager.enabled=true",
        "--set",
        "admissionWebhooks.certManager.issuerRef.kind=ClusterIssuer",
        "--set",
        "admissionWebhooks.certManager.issuerRef.name=corp",
        "--set",
        "admissionWebhooks.certManager.duration=1h30m",
    )
    cert = one(objects, "Certificate")
    assert cert["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "corp"}
    assert cert["spec"]["duration"] == "1h30m"


def test_a_namespaced_operator_intercepts_only_its_namespaces() -> None:
    objects = render("--set", "watchNamespaces={team-a,team-b}")
    watched = {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}
    hooks = [h for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
             for h in one(objects, kind)["webhooks"]]  # fmt: skip
    assert len(hooks) == 5
    for hook in hooks:
        assert hook["namespaceSelector"]["matchExpressions"][-1] == watched, hook["name"]


def test_watch_namespace_globs_need_an_explicit_selector() -> None:
    done = helm("template", "r", str(CHART), "--set", "watchNamespaces={team-*}", check=False)
    assert done.returncode != 0
    assert 'watchNamespaces has the glob "team-*"' in done.stderr
    assert "set admissionWebhooks.namespaceSelector" in done.stderr
    objects = render(
        "--set", "watchNamespaces={team-*}", "--set", "admissionWebhooks.namespaceSelector.matchLabels.team=x"
    )
    for hook in one(objects, "ValidatingWebhookConfiguration")["webhooks"]:
        assert hook["namespaceSelector"]["matchLabels"] == {"team": "x"}
