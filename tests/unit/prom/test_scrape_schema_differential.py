"""Differential tests of prom.scrape_schema against Prometheus's own strict reader: `promtool check config
--syntax-only` of v3.14 (built by hack/prometheus_oracle.py, `make oracles`) and of Debian's 2.42 when on PATH.

Seeded mutations of a valid configuration that has every level the schema describes (global; the scrape config;
its HTTP client: basic_auth, authorization, oauth2 and its tls_config, tls_config, proxy keys, http_headers; static
configs; relabel rules; kubernetes, file, http and dns SD with their nested sections), one mutation per file:

- a key renamed to a typo (dropped, doubled, swapped or replaced letter, changed case, an extra `s`), its value kept;
- a key added with a null value, drawn from every key name Prometheus knows at any level plus invented ones: where
  the key is known at that level both sides must accept it (null leaves the default, so no value rule fires), where
  it is not both must refuse it (a key from another level is the realistic typo);
- a key of the user's choosing added to a free-form map (params, labels, endpoint_params, ...): both accept.

For each file, what promtool refuses as unknown (`field X not found in type T`) must be exactly the keys ours
reports, and promtool must accept the file exactly when ours reports nothing. Files are checked in batches (promtool
takes many files per run and reports each).

The v3 oracle is built with only the kubernetes and dns SD plugins (plus file and http, in every build), so the
other SD kinds' keys are checked against 2.42 (which Debian builds without some of them); the SD kinds neither
oracle knows are listed in SOURCE_ONLY_SD: their names come from Prometheus v3.14's source (each package's
`Name()`), and the test fails if an oracle starts to know one, so the list stays exact.
"""

from __future__ import annotations

import copy
import random
import re
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from otel_operator.prom import scrape_schema
from otel_operator.prom.scrape_schema import SD_NAMES, ListOf, MapOf, Section, prometheus_config_problems

SEED = 20261203
TYPOS_PER_KEY = 3
ADDS_PER_SECTION = 20
BATCH = 150

BASE_V3 = """
global: {scrape_interval: 30s, scrape_timeout: 10s, evaluation_interval: 1m, external_labels: {region: eu},
         sample_limit: 100, metric_name_validation_scheme: utf8}
scrape_configs:
- job_name: one
  honor_labels: true
  honor_timestamps: false
  track_timestamps_staleness: true
  params: {module: [http_2xx]}
  scrape_interval: 20s
  scrape_timeout: 5s
  scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]
  fallback_scrape_protocol: PrometheusText0.0.4
  scrape_native_histograms: false
  always_scrape_classic_histograms: true
  convert_classic_histograms_to_nhcb: false
  metrics_path: /m
  scheme: https
  enable_compression: true
  body_size_limit: 10MB
  sample_limit: 5
  target_limit: 5
  label_limit: 5
  label_name_length_limit: 50
  label_value_length_limit: 50
  native_histogram_bucket_limit: 10
  native_histogram_min_bucket_factor: 1.5
  keep_dropped_targets: 3
  metric_name_validation_scheme: legacy
  metric_name_escaping_scheme: underscores
  extra_scrape_metrics: true
  basic_auth: {username: u, password: p}
  tls_config: {ca_file: /x/ca.crt, server_name: s, insecure_skip_verify: true, min_version: TLS12, max_version: TLS13}
  proxy_url: http://proxy:3128
  no_proxy: internal
  proxy_connect_header: {X-A: [b]}
  follow_redirects: false
  enable_http2: false
  http_headers: {X-Team: {values: [a], secrets: [s]}}
  static_configs: [{targets: ["h:9100"], labels: {a: b}}]
  relabel_configs:
  - {source_labels: [a], separator: ";", regex: (.*), target_label: b, replacement: $1, action: replace}
  - {source_labels: [a], modulus: 4, target_label: c, action: hashmod}
  metric_relabel_configs: [{source_labels: [__name__], regex: go_.*, action: drop}]
- job_name: two
  authorization: {type: Bearer, credentials: t}
  kubernetes_sd_configs:
  - role: pod
    api_server: https://k:6443
    namespaces: {names: [a]}
    basic_auth: {username: u, password_file: /p}
    tls_config: {cert_file: /c, key_file: /k}
    selectors: [{role: pod, label: "a=b", field: "spec.nodeName=n"}]
    attach_metadata: {node: true, namespace: true, deployment: true, job: true, cronjob: true}
    follow_redirects: true
    proxy_url: http://p:1
  - {role: node, kubeconfig_file: /kc}
  - {role: endpointslice, namespaces: {own_namespace: true}}
  file_sd_configs: [{files: [/f/*.json], refresh_interval: 1m}]
- job_name: three
  oauth2:
    client_id: i
    client_secret: s
    token_url: https://t/token
    scopes: [a]
    endpoint_params: {a: b}
    tls_config: {insecure_skip_verify: true}
    proxy_url: http://p:2
  http_sd_configs:
  - url: http://sd/targets
    refresh_interval: 30s
    tls_config: {ca_file: /ca}
    oauth2: {client_id: i, client_secret_file: /s, token_url: http://t, tls_config: {server_name: n}}
    http_headers: {X-B: {files: [/h]}}
  dns_sd_configs: [{names: [a.example], type: A, port: 80, refresh_interval: 30s}]
- job_name: four
  bearer_token_file: /t
  static_configs: [{targets: ["x:1"]}]
"""
# What Prometheus 2.42 already had: the same levels without kubernetes SD (Debian's build has none) and without
# the keys added since.
BASE_V2 = """
global: {scrape_interval: 30s, scrape_timeout: 10s, external_labels: {region: eu}}
scrape_configs:
- job_name: one
  honor_labels: true
  honor_timestamps: false
  params: {module: [http_2xx]}
  scrape_interval: 20s
  metrics_path: /m
  scheme: https
  body_size_limit: 10MB
  sample_limit: 5
  label_limit: 5
  basic_auth: {username: u, password: p}
  tls_config: {ca_file: /x/ca.crt, server_name: s, insecure_skip_verify: true, min_version: TLS12}
  proxy_url: http://proxy:3128
  follow_redirects: false
  enable_http2: false
  static_configs: [{targets: ["h:9100"], labels: {a: b}}]
  relabel_configs: [{source_labels: [a], separator: ";", regex: (.*), target_label: b, replacement: $1}]
  metric_relabel_configs: [{source_labels: [__name__], regex: go_.*, action: drop}]
- job_name: three
  oauth2: {client_id: i, client_secret: s, token_url: https://t/token, scopes: [a], endpoint_params: {a: b},
           tls_config: {insecure_skip_verify: true}}
  http_sd_configs: [{url: http://sd/targets, refresh_interval: 30s, tls_config: {ca_file: /ca}}]
  file_sd_configs: [{files: [/f/*.json]}]
  dns_sd_configs: [{names: [a.example], type: A, port: 80}]
- job_name: four
  authorization: {type: Bearer, credentials_file: /t}
  static_configs: [{targets: ["x:1"]}]
"""
# Maps whose keys are the user's (label names, parameter and header names, claims).
FREE_FORM = {"params": [["v"]], "labels": ["v"], "external_labels": ["v"], "endpoint_params": ["v"],
             "proxy_connect_header": [["v"]], "claims": ["v", 1], "http_headers": [{"values": ["v"]}]}  # fmt: skip
# SD kinds of Prometheus v3.14 that neither oracle has compiled in (v3's oracle has kubernetes and dns; Debian's
# 2.42 predates some and is built without others): their names are from v3.14's source only.
SOURCE_ONLY_SD = {"aws", "consul", "ecs", "elasticache", "kuma", "linode", "msk", "nomad", "oci", "outscale", "rds",
                  "stackit"}  # fmt: skip
INVENTED = ("interval", "timeout", "scrape", "target", "tls", "auth", "username_", "enabled", "x", "labels_",
            "Url", "sd_configs", "scrape_configs_", "honorlabels")  # fmt: skip
_UNKNOWN = re.compile(r"field (\S+) not found in type \S+")


def _sections(node: scrape_schema.Node) -> Iterator[Section]:
    if isinstance(node, Section):
        yield node
        for child in node.fields.values():
            yield from _sections(child)
    elif isinstance(node, ListOf | MapOf):
        yield from _sections(node.entry if isinstance(node, ListOf) else node.value)


ALL_KNOWN = sorted({key for section in _sections(scrape_schema.PROMETHEUS_CONFIG) for key in section.fields})


def _typos(key: str, rng: random.Random) -> list[str]:
    i = rng.randrange(len(key))
    j = min(i + 1, len(key) - 1)
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz_")
    swapped = key[:i] + key[j] + key[i] + key[j + 1 :] if j > i else key
    variants = [key[:i] + key[i + 1 :], key[:i] + key[i] + key[i:], swapped, key[:i] + letter + key[i + 1 :],
                key.capitalize(), key.upper(), key + "s", key.replace("_", "-"), key.replace("_", "")]  # fmt: skip
    usable = [v for v in dict.fromkeys(variants) if v and v not in ALL_KNOWN]
    return rng.sample(usable, min(TYPOS_PER_KEY, len(usable)))


def _mappings(value: Any, parent: str = "") -> Iterator[tuple[dict[str, Any], str]]:
    """Every mapping of the document with the key it sits under (list entries: their list's key)."""
    if isinstance(value, dict):
        yield value, parent
        for key, item in value.items():
            yield from _mappings(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _mappings(item, parent)


def mutations(base_text: str, rng: random.Random, pool: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what was done, the mutated document), one mutation each."""
    base = yaml.safe_load(base_text)
    count = sum(1 for _ in _mappings(base))
    for index in range(count):
        for key in list(list(_mappings(base))[index][0]):
            for typo in _typos(str(key), rng):
                doc = copy.deepcopy(base)
                node, _ = list(_mappings(doc))[index]
                node[typo] = node.pop(key)
                yield f"rename {key} -> {typo}", doc
        node, parent = list(_mappings(base))[index]
        if parent in FREE_FORM:
            doc = copy.deepcopy(base)
            target, _ = list(_mappings(doc))[index]
            target[f"any_key_{rng.randrange(100)}"] = rng.choice(FREE_FORM[parent])
            yield f"free-form key under {parent}", doc
            continue
        candidates = [k for k in pool if k not in node]
        for key in rng.sample(candidates, min(ADDS_PER_SECTION, len(candidates))):
            doc = copy.deepcopy(base)
            target, _ = list(_mappings(doc))[index]
            target[key] = None
            yield f"add {key}: null under {parent or '<top>'}", doc


def promtool_check(binary: str, documents: Sequence[dict[str, Any]], folder: Path) -> list[tuple[bool, list[str]]]:
    """For each document: (promtool accepted it, the unknown keys it named), in batches of files."""
    folder.mkdir(parents=True, exist_ok=True)
    results: list[tuple[bool, list[str]]] = []
    for start in range(0, len(documents), BATCH):
        files = []
        for offset, doc in enumerate(documents[start : start + BATCH]):
            path = folder / f"c{start + offset}.yml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
            files.append(str(path))
        run = subprocess.run(
            [binary, "check", "config", "--syntax-only", *files], capture_output=True, text=True, check=False
        )
        # stdout has "SUCCESS: <file> is valid ..." per accepted file, stderr "FAILED: parsing YAML file <file>: ..."
        # (and the lines that follow) per refused one
        accepted = set(re.findall(r"SUCCESS: (\S+) is valid", run.stdout))
        refused: dict[str, str] = {}
        for block in re.split(r"^\s*FAILED: ", run.stderr, flags=re.M)[1:]:
            named = re.match(r"parsing YAML file (\S+?): ", block)
            assert named, f"promtool's refusal names no file: {block!r}"
            refused[named.group(1)] = block
        for path in files:
            assert (path in accepted) != (path in refused), (path, run.stdout, run.stderr)
            results.append((path in accepted, sorted(_UNKNOWN.findall(refused.get(path, "")))))
    return results


def ours(doc: dict[str, Any]) -> list[str]:
    return sorted(path.rsplit(".", 1)[-1] for path, _ in prometheus_config_problems(doc))


def compare(binary: str, cases: list[tuple[str, dict[str, Any]]], folder: Path, *, refusals: bool) -> dict[str, int]:
    answers = promtool_check(binary, [doc for _, doc in cases], folder)
    tally = {"cases": len(cases), "refused": 0, "accepted": 0}
    mismatches = []
    for (what, doc), (accepted, unknown) in zip(cases, answers, strict=True):
        mine = ours(doc)
        tally["refused" if unknown else "accepted"] += 1
        if mine != unknown or (refusals and accepted != (not mine)):
            mismatches.append(f"{what}: promtool accepted={accepted} unknown={unknown}; ours {mine}")
    print(f"{binary}: {tally}")  # shown with -s: the test's size
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ:\n" + "\n".join(mismatches[:10])
    return tally


def test_mutations_agree_with_promtool_3(promtool_3: str, tmp_path: Path) -> None:
    # the SD kinds this oracle has not compiled in are test_every_sd_kind_is_known_to_an_oracle_or_listed's
    missing = {f"{name}_sd_configs" for name in SD_NAMES if name not in ("kubernetes", "dns", "file", "http")}
    pool = [k for k in [*ALL_KNOWN, *INVENTED] if k not in missing]
    cases = [("the base, unchanged", yaml.safe_load(BASE_V3)), *mutations(BASE_V3, random.Random(SEED), pool)]
    tally = compare(promtool_3, cases, tmp_path, refusals=True)
    assert tally["cases"] > 1000, tally
    assert tally["accepted"] > 50, tally
    assert tally["refused"] > 900, tally


def test_mutations_agree_with_promtool_2(promtool_2: str, tmp_path: Path) -> None:
    # keys 2.42 does not have yet are not added: what 2.42 lacks is not what v3 refuses
    newer = set(ours(yaml.safe_load(BASE_V3))) | _unknown_to(promtool_2, yaml.safe_load(BASE_V3), tmp_path / "n")
    lacking = {f"{name}_sd_configs" for name in (*SOURCE_ONLY_SD, "kubernetes")} | _V3_ONLY | newer
    pool = [k for k in [*ALL_KNOWN, *INVENTED] if k not in lacking and not k.endswith("_ref")]
    pool.remove("action")  # 2.42 refuses a null relabel action (a value rule), v3 takes it as the default
    cases = [("the base, unchanged", yaml.safe_load(BASE_V2)), *mutations(BASE_V2, random.Random(SEED + 1), pool)]
    tally = compare(promtool_2, cases, tmp_path, refusals=True)
    assert tally["cases"] > 500, tally
    assert tally["refused"] > 300, tally


# Keys of v3.14 sections that 2.42's same sections lack but that BASE_V3 does not use (names, so body_size_limit,
# new in `global` only, is not added anywhere in the 2.42 run).
_V3_ONLY = {"client_certificate_key_id", "client_certificate_key", "client_certificate_key_file", "grant_type",
            "signature_algorithm", "iss", "audience", "claims", "ca", "cert", "key", "proxy_from_environment",
            "scrape_failure_log_file", "rule_query_offset", "label_name_length_limit", "label_value_length_limit",
            "target_limit", "keep_dropped_targets", "native_histogram_bucket_limit", "extra_scrape_metrics",
            "native_histogram_min_bucket_factor", "metric_name_escaping_scheme", "scrape_native_histograms",
            "convert_classic_histograms_to_nhcb", "always_scrape_classic_histograms", "otlp", "runtime",
            "scrape_config_files", "http_headers", "no_proxy", "proxy_connect_header", "enable_compression",
            "track_timestamps_staleness", "scrape_protocols", "fallback_scrape_protocol", "query_log_file",
            "username_file", "credentials_ref", "metric_name_validation_scheme", "body_size_limit"}  # fmt: skip


def _unknown_to(binary: str, doc: dict[str, Any], folder: Path) -> set[str]:
    [(_, unknown)] = promtool_check(binary, [doc], folder)
    return set(unknown)


def test_every_sd_kind_is_known_to_an_oracle_or_listed(promtool_3: str, promtool_2: str, tmp_path: Path) -> None:
    docs = [{"scrape_configs": [{"job_name": "j", f"{name}_sd_configs": []}]} for name in SD_NAMES]
    typos = [{"scrape_configs": [{"job_name": "j", f"{name}_sd_config": []}]} for name in SD_NAMES]
    known: set[str] = set()
    for binary in (promtool_3, promtool_2):
        answers = promtool_check(binary, docs + typos, tmp_path / Path(binary).name)
        known |= {name for name, (_, unknown) in zip(SD_NAMES, answers, strict=False) if not unknown}
        assert all(unknown for _, unknown in answers[len(docs) :])  # a typo of a kind is refused by both
    assert all(ours(doc) == [] for doc in docs)
    assert all(ours(doc) == [f"{name}_sd_config"] for name, doc in zip(SD_NAMES, typos, strict=True))
    assert set(SD_NAMES) - known == SOURCE_ONLY_SD
