"""Differential test against prometheus-operator itself: ServiceMonitors and PodMonitors, with the Secrets and
ConfigMaps they refer to, go through our generator and through prometheus-operator's own (v0.93.1, the version
the OpenTelemetry target allocator links), called as the allocator calls it: `ResourceSelector` to select and
validate the monitors and load what they reference, then `GenerateServerConfiguration` with EndpointSlice discovery
and inline TLS (hack/promop-oracle/main.go; `make oracles` builds it, or the first test here does, about four and
a half minutes on cold Go caches). The same monitors must be rejected, and every generated scrape_config must be equal,
key order included.

Covered: ServiceMonitor `targetLabels`, `podTargetLabels` of both kinds (with the Prometheus-level list after the
monitor's), label names that need sanitising; OAuth2 (clientId from a Secret or a ConfigMap, clientSecret, scopes,
endpointParams, tokenUrl, its own tlsConfig); tlsConfig (ca and cert from a Secret or a ConfigMap, keySecret,
serverName, insecureSkipVerify, TLS versions); basicAuth; authorization; the deprecated bearerTokenSecret; and
the ways such references fail (missing object or key, a value that is not a certificate, a key that does not
match its certificate, references into another namespace, ConfigMap `binaryData`).

Normalised, because the two legitimately differ:
- Only `scrape_configs` are compared: the oracle's `global` block (external labels of its synthetic Prometheus)
  is not part of what our generator makes, and the allocator drops it too.
- Rejections are compared by monitor, not by message: ours name the field and say how to fix it.
- Both sides inline Secret and ConfigMap values (the allocator builds the generator with inline TLS, and it
  inlines basic auth, authorization, OAuth2 and bearer-token values anyway), so no values are masked. The oracle
  gets Secrets with `stringData` merged into `data` first, as the API server stores them; ours reads either.
- Our scrape_configs go through a YAML round trip so that both sides have YAML's scalar types.

Left out, a known difference: Secret values that are not valid UTF-8. Go writes such bytes through unchanged;
ours replaces them, as a YAML document cannot hold them (secrets.py). No case uses them.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import random
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

import promop_oracle  # hack/ is not a package
from otel_operator.admission import certs
from otel_operator.prom.monitors.generate import generate_scrape_configs
from otel_operator.prom.monitors.options import GeneratorOptions
from tests.tools import built_tool

pytestmark = pytest.mark.timeout(900)  # the first test may build the oracle

SEED = 20261203
RANDOM_CASES = 300
API = "monitoring.coreos.com/v1"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@functools.cache
def oracle() -> str:
    return built_tool(promop_oracle.find(), "prometheus-operator's generator (promop-oracle)", "oracles")


# ----------------------------------------------------------------------------------------------- material


@dataclass(frozen=True)
class Pem:
    ca: str
    cert: str
    key: str
    other_key: str  # a valid key of another certificate


@functools.cache
def pem() -> Pem:
    ca = certs.issue_ca(NOW, common_name="differential-ca")
    leaf = certs.issue_leaf(ca, ["client.example"], NOW)
    other = certs.issue_leaf(ca, ["other.example"], NOW)
    return Pem(ca.cert_pem.decode(), leaf.cert_pem.decode(), leaf.key_pem.decode(), other.key_pem.decode())


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(name: str, namespace: str, values: dict[str, str], *, string_data: bool = False) -> dict[str, Any]:
    body = {"stringData": values} if string_data else {"data": {k: b64(v) for k, v in values.items()}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, **body}


def config_map(name: str, namespace: str, values: dict[str, str], binary: dict[str, str]) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace}
    binary_data = {k: b64(v) for k, v in binary.items()}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": values, "binaryData": binary_data}


def material(namespace: str) -> list[dict[str, Any]]:
    """The Secrets and ConfigMaps every case may refer to, in `namespace`."""
    p = pem()
    values = {
        "user": "admin",
        "pass": "pä$$ w0rd",
        "token": "t0ken",
        "id": "client-1",
        "secret": "s3cr3t",
        "ca": p.ca,
        "cert": p.cert,
        "key": p.key,
        "other-key": p.other_key,
        "junk": "not a certificate",
        "empty": "",
        # how PEM is read: the first block for a CA, the first CERTIFICATE and PRIVATE KEY for a pair
        "ca-after-key": p.key + p.ca,
        "ca-in-text": "# our CA\n" + p.ca + "trailing",
        "ca-bundle": p.ca + p.cert,
        "cert-after-key": p.key + p.cert + p.ca,
        "key-after-cert": "junk\n" + p.ca + p.key,
        "broken-ca": "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n" + p.ca,
    }
    return [
        secret("creds", namespace, values),
        secret("creds-sd", namespace, values, string_data=True),
        config_map(
            "bundle",
            namespace,
            {"id": "client-cm", "ca": p.ca, "cert": p.cert, "junk": "nope"},
            binary={"binary-ca": p.ca},
        ),
    ]


# ----------------------------------------------------------------------------------------------- running both


@dataclass
class Case:
    name: str
    objects: list[dict[str, Any]]
    pod_target_labels: tuple[str, ...] = ()  # the Prometheus resource's
    expect_rejected: set[str] | None = None  # for table cases: a check that the case tests what it says


def ours(case: Case) -> tuple[list[Any], set[str]]:
    options = GeneratorOptions(pod_target_labels=case.pod_target_labels)
    monitors = [o for o in case.objects if o["kind"] in ("ServiceMonitor", "PodMonitor")]
    secrets = [o for o in case.objects if o["kind"] in ("Secret", "ConfigMap")]
    result = generate_scrape_configs(copy.deepcopy(monitors), secrets, options)
    configs = yaml.safe_load(yaml.safe_dump(list(result.scrape_configs), sort_keys=False, allow_unicode=True))
    return configs, {e.obj for e in result.errors}


def theirs(cases: Sequence[Case]) -> list[tuple[list[Any], dict[str, str]]]:
    """The oracle's scrape_configs and rejections (monitor → prometheus-operator's reason) for each case."""
    request = {"cases": [{"objects": c.objects, "prometheus": _prometheus_spec(c)} for c in cases]}
    run = subprocess.run(
        [oracle()], input=json.dumps(request), capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr
    out = []
    for case, result in zip(cases, json.loads(run.stdout)["results"], strict=True):
        assert not result.get("error"), f"{case.name}: the oracle could not generate: {result['error']}"
        out.append((yaml.safe_load(result["config"])["scrape_configs"] or [], result["rejected"]))
    return out


def _prometheus_spec(case: Case) -> dict[str, Any]:
    return {"podTargetLabels": list(case.pod_target_labels)} if case.pod_target_labels else {}


def ordered(value: Any) -> Any:
    """`value` with every mapping as a list of pairs, so that == compares key order too."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def compare(cases: Sequence[Case], results: Sequence[tuple[list[Any], dict[str, str]]] | None = None) -> None:
    failures = []
    for case, (want, reasons) in zip(cases, results or theirs(cases), strict=True):
        got, got_rejected = ours(case)
        want_rejected = set(reasons)
        if case.expect_rejected is not None and want_rejected != case.expect_rejected:
            failures.append(f"{case.name}: the case is wrong: prometheus-operator rejects {reasons}")
        elif got_rejected != want_rejected:
            failures.append(f"{case.name}: rejected {sorted(got_rejected)}, prometheus-operator {reasons}")
        elif ordered(got) != ordered(want):
            failures.append(f"{case.name}:\n ours: {json.dumps(got)}\n prometheus-operator: {json.dumps(want)}")
    assert not failures, f"{len(failures)} of {len(cases)} cases differ:\n" + "\n".join(failures[:10])


# ----------------------------------------------------------------------------------------------- monitors


def service_monitor(name: str, namespace: str, endpoints: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    body = {"selector": {"matchLabels": {"app": name}}, "endpoints": endpoints, **spec}
    return {
        "apiVersion": API,
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def pod_monitor(name: str, namespace: str, endpoints: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    body = {"selector": {"matchLabels": {"app": name}}, "podMetricsEndpoints": endpoints, **spec}
    return {"apiVersion": API, "kind": "PodMonitor", "metadata": {"name": name, "namespace": namespace}, "spec": body}


def ref(name: str, key: str) -> dict[str, str]:
    return {"name": name, "key": key}


def sm_case(name: str, ep: dict[str, Any], rejected: bool = False, **spec: Any) -> Case:
    ep = {"port": "web", **ep}
    objects = [service_monitor(name, "apps", [ep], **spec), *material("apps")]
    return Case(name, objects, expect_rejected={f"ServiceMonitor apps/{name}"} if rejected else set())


def pm_case(name: str, ep: dict[str, Any], rejected: bool = False, **spec: Any) -> Case:
    ep = {"port": "metrics", **ep}
    objects = [pod_monitor(name, "apps", [ep], **spec), *material("apps")]
    return Case(name, objects, expect_rejected={f"PodMonitor apps/{name}"} if rejected else set())


CA_SECRET = {"secret": ref("creds", "ca")}
CA_CM = {"configMap": ref("bundle", "ca")}
CERT_SECRET = {"secret": ref("creds", "cert")}
CERT_CM = {"configMap": ref("bundle", "cert")}
KEY = ref("creds", "key")
TOKEN = ref("creds", "token")
OAUTH2 = {
    "clientId": {"secret": ref("creds", "id")},
    "clientSecret": ref("creds", "secret"),
    "tokenUrl": "https://idp.example/token",
}


def table_cases() -> list[Case]:
    labels = ["app.kubernetes.io/name", "team", "k8s-app", "tier", "é", "1st"]
    return [
        sm_case("target-labels", {}, targetLabels=labels),
        sm_case("pod-target-labels", {}, podTargetLabels=labels),
        sm_case("both-target-labels", {}, targetLabels=["team", "team"], podTargetLabels=["app.kubernetes.io/name"]),
        sm_case("target-labels-job-label", {}, targetLabels=["app"], jobLabel="app.kubernetes.io/name"),
        pm_case("pm-pod-target-labels", {}, podTargetLabels=labels),
        pm_case("pm-pod-target-labels-job-label", {}, podTargetLabels=["x.y/z"], jobLabel="x.y/z"),
        Case(
            "prometheus-level-pod-target-labels",
            [
                service_monitor("p", "apps", [{"port": "web"}], podTargetLabels=["own"]),
                pod_monitor("p", "apps", [{"port": "m"}], podTargetLabels=["own"]),
            ],
            pod_target_labels=("app.kubernetes.io/instance", "shared"),
            expect_rejected=set(),
        ),
        sm_case("oauth2-secret-id", {"oauth2": OAUTH2}),
        sm_case("oauth2-configmap-id", {"oauth2": {**OAUTH2, "clientId": {"configMap": ref("bundle", "id")}}}),
        sm_case(
            "oauth2-full",
            {
                "oauth2": {
                    **OAUTH2,
                    "scopes": ["read", "write"],
                    "endpointParams": {"z": "1", "audience": "a b"},
                    "tlsConfig": {"ca": CA_CM, "serverName": "idp"},
                }
            },
        ),
        pm_case("pm-oauth2", {"oauth2": {**OAUTH2, "scopes": ["one"]}}),
        sm_case("oauth2-no-token-url", {"oauth2": {k: v for k, v in OAUTH2.items() if k != "tokenUrl"}}, True),
        sm_case("oauth2-missing-secret", {"oauth2": {**OAUTH2, "clientSecret": ref("nope", "secret")}}, True),
        sm_case("oauth2-missing-cm-key", {"oauth2": {**OAUTH2, "clientId": {"configMap": ref("bundle", "no")}}}, True),
        sm_case("tls-ca-secret", {"scheme": "https", "tlsConfig": {"ca": CA_SECRET}}),
        sm_case("tls-ca-configmap", {"scheme": "https", "tlsConfig": {"ca": CA_CM, "serverName": "svc"}}),
        sm_case(
            "tls-mutual",
            {
                "tlsConfig": {
                    "ca": CA_SECRET,
                    "cert": CERT_CM,
                    "keySecret": KEY,
                    "insecureSkipVerify": False,
                    "minVersion": "TLS12",
                    "maxVersion": "TLS13",
                }
            },
        ),
        sm_case("tls-skip-verify", {"tlsConfig": {"insecureSkipVerify": True, "serverName": ""}}),
        sm_case("tls-empty", {"tlsConfig": {}}),
        pm_case("pm-tls-empty", {"tlsConfig": {}}),
        pm_case("pm-tls-mutual", {"tlsConfig": {"ca": CA_CM, "cert": CERT_SECRET, "keySecret": KEY}}),
        sm_case("tls-ca-not-pem", {"tlsConfig": {"ca": {"secret": ref("creds", "junk")}}}, True),
        pm_case("pm-tls-ca-not-pem", {"tlsConfig": {"ca": {"configMap": ref("bundle", "junk")}}}, True),
        sm_case("tls-ca-empty-value", {"tlsConfig": {"ca": {"secret": ref("creds", "empty")}}}),
        sm_case("tls-key-mismatch", {"tlsConfig": {"cert": CERT_SECRET, "keySecret": ref("creds", "other-key")}}, True),
        sm_case("tls-key-not-pem", {"tlsConfig": {"cert": CERT_SECRET, "keySecret": ref("creds", "junk")}}, True),
        sm_case("tls-cert-not-pem", {"tlsConfig": {"cert": {"secret": ref("creds", "junk")}, "keySecret": KEY}}, True),
        sm_case("tls-cert-without-key", {"tlsConfig": {"cert": CERT_SECRET}}, True),
        sm_case("tls-ca-after-key", {"tlsConfig": {"ca": {"secret": ref("creds", "ca-after-key")}}}, True),
        sm_case("tls-ca-in-text", {"tlsConfig": {"ca": {"secret": ref("creds", "ca-in-text")}}}),
        sm_case("tls-ca-bundle", {"tlsConfig": {"ca": {"secret": ref("creds", "ca-bundle")}}}),
        sm_case("tls-ca-broken-block-first", {"tlsConfig": {"ca": {"secret": ref("creds", "broken-ca")}}}),
        sm_case(
            "tls-cert-after-key",
            {
                "tlsConfig": {
                    "cert": {"secret": ref("creds", "cert-after-key")},
                    "keySecret": ref("creds", "key-after-cert"),
                }
            },
        ),
        sm_case(
            "tls-cert-is-ca", {"tlsConfig": {"cert": {"secret": ref("creds", "ca-bundle")}, "keySecret": KEY}}, True
        ),
        sm_case("tls-ca-binary-data", {"tlsConfig": {"ca": {"configMap": ref("bundle", "binary-ca")}}}, True),
        sm_case(
            "oauth2-tls-ca-not-pem", {"oauth2": {**OAUTH2, "tlsConfig": {"ca": {"secret": ref("creds", "junk")}}}}, True
        ),
        sm_case("basic-auth", {"basicAuth": {"username": ref("creds", "user"), "password": ref("creds-sd", "pass")}}),
        pm_case("pm-basic-auth", {"basicAuth": {"username": ref("creds", "user"), "password": ref("creds", "pass")}}),
        sm_case(
            "basic-auth-missing-key",
            {"basicAuth": {"username": ref("creds", "user"), "password": ref("creds", "nope")}},
            True,
        ),
        sm_case("authorization-default-type", {"authorization": {"credentials": ref("creds", "token")}}),
        sm_case(
            "authorization-custom-type", {"authorization": {"type": " Custom ", "credentials": ref("creds", "token")}}
        ),
        pm_case("pm-authorization", {"authorization": {"type": "Bearer", "credentials": ref("creds-sd", "token")}}),
        sm_case(
            "authorization-basic-type", {"authorization": {"type": "Basic", "credentials": ref("creds", "token")}}, True
        ),
        sm_case("authorization-no-credentials", {"authorization": {"type": "Bearer"}}, True),
        sm_case("authorization-credentials-file", {"authorization": {"credentials": TOKEN, "credentialsFile": "/f"}}),
        pm_case(
            "pm-authorization-credentials-file", {"authorization": {"credentials": TOKEN, "credentialsFile": "/f"}}
        ),
        sm_case("authorization-only-credentials-file", {"authorization": {"credentialsFile": "/f"}}, True),
        pm_case("pm-authorization-empty", {"authorization": {}}, True),
        sm_case("bearer-token-secret", {"bearerTokenSecret": ref("creds", "token")}),
        pm_case("pm-bearer-token-secret", {"bearerTokenSecret": ref("creds", "token")}),
        sm_case(
            "basic-auth-and-oauth2",
            {"basicAuth": {"username": ref("creds", "user"), "password": ref("creds", "pass")}, "oauth2": OAUTH2},
            True,
        ),
        Case(
            "secret-in-another-namespace",
            [
                service_monitor(
                    "x", "apps", [{"port": "web", "authorization": {"credentials": ref("creds", "token")}}]
                ),
                *material("elsewhere"),
            ],
            expect_rejected={"ServiceMonitor apps/x"},
        ),
    ]


# ----------------------------------------------------------------------------------------------- random cases

LABEL_NAMES = [
    "app",
    "team",
    "app.kubernetes.io/name",
    "app.kubernetes.io/part-of",
    "k8s-app",
    "tier",
    "pod-template-hash",
    "topology.kubernetes.io/zone",
    "x_y",
    "Version",
    "é",
    "9lives",
]
SECRETS = ["creds", "creds-sd"]


def _secret_ref(rng: random.Random, key: str) -> dict[str, str]:
    roll = rng.random()
    if roll < 0.04:
        return ref("missing", key)
    if roll < 0.08:
        return ref(rng.choice(SECRETS), "no-such-key")
    return ref(rng.choice(SECRETS), key)


def _secret_or_cm(rng: random.Random, key: str) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"secret": _secret_ref(rng, key)}
    roll = rng.random()
    if roll < 0.04:
        return {"configMap": ref("missing", key)}
    if roll < 0.07 and key == "ca":
        return {"configMap": ref("bundle", "binary-ca")}
    return {"configMap": ref("bundle", key)}


def _tls(rng: random.Random, *, client_cert: bool = True) -> dict[str, Any]:
    tls: dict[str, Any] = {}
    if rng.random() < 0.6:
        tls["ca"] = _secret_or_cm(rng, "junk" if rng.random() < 0.05 else "ca")
    if client_cert and rng.random() < 0.4:
        tls["cert"] = _secret_or_cm(rng, "cert")
        roll = rng.random()
        if roll < 0.9:
            tls["keySecret"] = _secret_ref(rng, "other-key" if roll < 0.05 else "key")
    if rng.random() < 0.4:
        tls["serverName"] = rng.choice(["svc.apps.svc", "", "example.com"])
    if rng.random() < 0.4:
        tls["insecureSkipVerify"] = rng.random() < 0.5
    if rng.random() < 0.15:
        tls["minVersion"] = rng.choice(["TLS12", "TLS13"])
    return tls


def _oauth2(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"clientId": _secret_or_cm(rng, "id"), "clientSecret": _secret_ref(rng, "secret")}
    if rng.random() < 0.95:
        out["tokenUrl"] = rng.choice(["https://idp.example/token", "http://127.0.0.1:9/oauth"])
    if rng.random() < 0.5:
        out["scopes"] = rng.sample(["read", "write", "metrics", "openid"], rng.randint(1, 3))
    if rng.random() < 0.4:
        out["endpointParams"] = {k: rng.choice(["1", "a b", "x=y"]) for k in rng.sample(["aud", "z", "b"], 2)}
    if rng.random() < 0.15:
        out["tlsConfig"] = _tls(rng, client_cert=False)
    return out


def _credentials(rng: random.Random, ep: dict[str, Any]) -> None:
    kinds = ["basicAuth", "authorization", "oauth2", "bearerTokenSecret"]
    chosen = [k for k in kinds if rng.random() < 0.3]
    if len(chosen) > 1 and rng.random() < 0.8:
        chosen = chosen[:1]  # combinations are rejected; keep a few of them
    for kind in chosen:
        if kind == "basicAuth":
            ep[kind] = {"username": _secret_ref(rng, "user"), "password": _secret_ref(rng, "pass")}
        elif kind == "authorization":
            auth: dict[str, Any] = {"credentials": _secret_ref(rng, "token")}
            if rng.random() < 0.5:
                auth["type"] = rng.choice(["Bearer", "Token", " Custom", "Basic"])
            ep[kind] = auth
        elif kind == "oauth2":
            ep[kind] = _oauth2(rng)
        else:
            ep[kind] = _secret_ref(rng, "token")


def _labels(rng: random.Random) -> list[str]:
    return [rng.choice(LABEL_NAMES) for _ in range(rng.choice([0, 0, 1, 2, 3]))]


def random_case(rng: random.Random, i: int) -> Case:
    namespace = rng.choice(["apps", "team-b"])
    kind = rng.choice(["ServiceMonitor", "PodMonitor"])
    endpoints = []
    for _ in range(rng.choice([1, 1, 2])):
        ep: dict[str, Any] = {"port": rng.choice(["web", "metrics"])}
        if rng.random() < 0.3:
            ep["scheme"] = "https"
        if rng.random() < 0.5:
            ep["tlsConfig"] = _tls(rng)
        _credentials(rng, ep)
        endpoints.append(ep)
    spec: dict[str, Any] = {}
    if kind == "ServiceMonitor" and rng.random() < 0.6:
        spec["targetLabels"] = _labels(rng)
    if rng.random() < 0.6:
        spec["podTargetLabels"] = _labels(rng)
    if rng.random() < 0.2:
        spec["jobLabel"] = rng.choice(LABEL_NAMES)
    build = service_monitor if kind == "ServiceMonitor" else pod_monitor
    monitor = build(f"m{i}", namespace, endpoints, **spec)
    prom_labels = tuple(_labels(rng)) if rng.random() < 0.15 else ()
    # The referenced objects are usually in the monitor's namespace; sometimes only in the other one.
    material_ns = namespace if rng.random() < 0.95 else ("team-b" if namespace == "apps" else "apps")
    return Case(f"random-{i}", [monitor, *material(material_ns)], pod_target_labels=prom_labels)


def random_cases() -> Iterator[Case]:
    rng = random.Random(SEED)
    for i in range(RANDOM_CASES):
        yield random_case(rng, i)


# ----------------------------------------------------------------------------------------------- tests


def test_table_cases_match_prometheus_operator() -> None:
    compare(table_cases())


def test_random_monitors_match_prometheus_operator() -> None:
    cases = list(random_cases())
    # The generator must reach both outcomes often enough to mean something.
    results = theirs(cases)
    rejected = sum(1 for _, r in results if r)
    assert 0.1 * len(cases) < rejected < 0.6 * len(cases), rejected
    compare(cases, results)


def test_several_monitors_in_one_run_keep_prometheus_operators_order() -> None:
    objects = [
        pod_monitor("b", "team-b", [{"port": "m"}], podTargetLabels=["app.kubernetes.io/name"]),
        service_monitor(
            "z",
            "apps",
            [{"port": "web"}, {"port": "metrics", "bearerTokenSecret": ref("creds", "token")}],
            targetLabels=["team"],
        ),
        service_monitor(
            "a",
            "team-b",
            [{"port": "web", "basicAuth": {"username": ref("creds", "user"), "password": ref("missing", "pass")}}],
        ),
        pod_monitor("a", "apps", [{"port": "m", "oauth2": OAUTH2}]),
        *material("apps"),
        *material("team-b"),
    ]
    compare([Case("mixed", objects, expect_rejected={"ServiceMonitor team-b/a"})])
