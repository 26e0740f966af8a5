"""Differential test against Prometheus itself: random (seeded) relabel chains and static targets, run through
`promtool check service-discovery` and through our Prometheus-mode target assembly; the post-relabel labels, the
dropped targets and the refused targets must agree.

Debian's promtool is 2.42, which differs from Prometheus 3 in a few corners the generator stays away from:
regexes are anchored `^(?:...)$` (so no newlines in values, where `.` would differ), label names are legacy
(we run with the legacy scheme), a target address without a port gets `:80` (every address keeps a port), an
empty replacement deletes the un-expanded `target_label` (templated targets always get a non-empty replacement),
and `labelmap` iterates in name order (only collision-free maps are generated). Its `discoveredLabels` are wrong
after relabeling, so only `labels` and the counts are compared. promtool lists static_configs entries in random
order, so each entry holds one target and results are compared as multisets.

2.42 busy-waits for its whole `--timeout`; static discovery answers at once, so a short timeout is used and a run
that reports fewer targets than configured is repeated with 1s.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_operator.prom.labels import NameScheme
from otel_operator.prom.promconfig import render_json, service_discovery, static_target_groups
from otel_operator.prom.regex import RegexError, compile_regex
from otel_operator.prom.relabel import RelabelConfigError
from otel_operator.prom.targets import GlobalDefaults, Mode, ScrapeConfigError, ScrapeJob

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not on PATH (Debian package `prometheus`)")

SEED = 20260921
JOBS = 40
TARGETS_PER_JOB = 60
INVALID_CONFIGS = 10
FAST_TIMEOUT = "150ms"  # static discovery answers at once; a short run is re-checked for completeness

NAMES = ["a", "b", "c", "env", "team", "zone", "__meta_kubernetes_pod_label_app", "__meta_kubernetes_pod_label_tier",
         "__meta_x", "__tmp_t", "job", "instance"]  # fmt: skip
TARGET_NAMES = ["a", "b", "c", "env", "d", "out", "team", "__tmp_x", "__meta_y", "instance", "job", "__param_p"]
VALUES = ["foo", "bar", "baz", "a;b", "x-y", "1", "01", "prod", "dev", "Σίσυφος", "straße", "MiXeD", "a.b", "k8s",
          "ab", "ba", "é", "0", "  ", "v1;true", "true", "web", "Node"]  # fmt: skip
LITERALS = "abcfor;-_:0123é ."


def _literal(rng: random.Random) -> str:
    c = rng.choice(LITERALS)
    return "\\." if c == "." and rng.random() < 0.5 else c


def _atom(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return _literal(rng)
    choices = [".", "[a-c]", "[^;]", "[[:alpha:]]", "[0-9]", r"\d", r"\w", r"\s", r"\S", r"\pL", "[é-ë]", "(?i:a)",
               "[a-z0-9]", r"\.", "[;:]"]  # fmt: skip
    return rng.choice(choices)


def _piece(rng: random.Random) -> str:
    quantifier = rng.choice(["", "", "", "", "*", "+", "?", "{0,2}", "{1,}", "*?", "+?", "{2}"])
    return _atom(rng) + quantifier


def _sequence(rng: random.Random, depth: int) -> str:
    parts = []
    for _ in range(rng.randint(1, 4)):
        if depth > 0 and rng.random() < 0.25:
            inner = _sequence(rng, depth - 1)
            if rng.random() < 0.3:
                inner += "|" + _sequence(rng, depth - 1)
            opener = rng.choice(["(", "(", "(?:", "(?P<n>", "(?P<m>"])
            parts.append(opener + inner + ")" + rng.choice(["", "", "?", "*", "+"]))
        else:
            parts.append(_piece(rng))
    return "".join(parts)


def value_regex(rng: random.Random) -> str:
    """A regex derived from likely source values, so that it matches often and its groups capture something."""
    text = rng.choice(VALUES) + (";" + rng.choice(VALUES) if rng.random() < 0.4 else "")
    out = []
    for c in text:
        roll = rng.random()
        if roll < 0.15:
            out.append(rng.choice([".", r"\w", "[^;]", r"\S", r"\pL"]))
        elif roll < 0.25:
            out.append("(" + ("\\" + c if not c.isalnum() else c) + ")")
        elif roll < 0.3:
            out.append(".*")
        else:
            out.append("\\." if c == "." else c)
    regex = "".join(out)
    if rng.random() < 0.3:
        regex = f"({regex})"
    if rng.random() < 0.2:
        regex += "|" + rng.choice(VALUES)
    return regex


def random_regex(rng: random.Random) -> str:
    roll = rng.random()
    value = rng.choice(VALUES)
    shapes = ["(.*)", "(.+)", ".*", value, f"{value[:1]}(.*)", f"({value}|bar);true", "(foo|bar)",
              f"(.*){value[-1:]}", "f(.*)", "(.*);(.*)", "(.+);(.*)", ".*o.*", "(?i)foo", "(?i)(.*)", "([^;]*);.*",
              "(b).*b(.*)ba(.*)"]  # fmt: skip
    if roll < 0.35:
        text = rng.choice(shapes)
    elif roll < 0.7:
        text = value_regex(rng)
    else:
        text = _sequence(rng, 2)
        if rng.random() < 0.2:
            text += "|" + _sequence(rng, 1)
    try:
        compile_regex(text)
    except RegexError:
        return "(.*)"
    return text


def random_template(rng: random.Random) -> str:
    return rng.choice(["$1", "${1}", "$2", "${2}x", "$0", "x$1", "$1-$2", "${n}", "$n", "$1x", "$$1", "lit", "v",
                       "${1};${2}", "$", "a$-b", "${1", "ch${1}-ch${1}", "$01", "$10", "$1_", "${n}_$m", "$2y$1",
                       "$é", "${0}${0}"])  # fmt: skip


def random_rule(rng: random.Random) -> dict[str, Any]:
    action = rng.choices(
        ["replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap", "labeldrop", "labelkeep",
         "lowercase", "uppercase", "address", "refuse"],
        weights=[30, 8, 8, 3, 3, 5, 4, 4, 2, 3, 3, 3, 4],
    )[0]  # fmt: skip
    sources = rng.sample([*NAMES, "__address__"], rng.randint(0, 3))
    rule: dict[str, Any] = {}
    if action == "refuse":  # make Prometheus refuse some targets: no address, a URL, a timeout over the interval
        target, replacement = rng.choice(
            [("__address__", ""), ("__address__", "h/x:80"), ("__scrape_timeout__", "2m"), ("__scrape_interval__", "x")]
        )
        regex = rng.choice(["(.+)", ".*[ao].*", "[fb].*"])
        return {
            "source_labels": [rng.choice(NAMES)],
            "regex": regex,
            "target_label": target,
            "replacement": replacement,
        }
    if action == "address":  # rewrite the address, always keeping a port (2.42 would add one)
        return {"source_labels": [rng.choice(["a", "b", "team"])], "regex": "([^:]*)", "target_label": "__address__",
                "replacement": f"$1:{rng.randint(1, 65535)}"}  # fmt: skip
    if action in ("labelmap",):
        prefix = rng.choice(["__meta_kubernetes_pod_label_", "__meta_", "t"])
        return {"action": "labelmap", "regex": f"{prefix}(.+)", "replacement": rng.choice(["$1", "k8s_$1", "${1}_x"])}
    if action in ("labeldrop", "labelkeep"):
        regex = rng.choice(["__meta_.*", "a|b", "(te.*)", "__tmp.*", "[a-c]", "env|zone", "d", ".*x.*"])
        if action == "labelkeep":
            regex = "__.*|" + regex  # keep the scrape internals, or every target is refused
        return {"action": action, "regex": regex}
    rule["action"] = action if rng.random() < 0.8 else action.upper()
    if sources or rng.random() < 0.5:
        rule["source_labels"] = sources
    if action in ("replace", "keep", "drop") and rng.random() < 0.3:
        rule["separator"] = rng.choice([";", ",", "", "-", "::"])
    if action == "keepequal" and rng.random() < 0.5:  # sometimes equal, so that not every target is dropped
        target = rng.choice(NAMES)
        return {"action": action, "source_labels": [target], "target_label": target}
    if action == "keep" and rng.random() < 0.8:  # regexes that keep some targets and not others
        rule["regex"] = rng.choice([".*[aeo].*", ".+", "[^;]*", ".{0,4}", "(.*);.*", r"\D*", "(?i).*[mb].*"])
    elif action == "drop" and rng.random() < 0.6:
        rule["regex"] = rng.choice(["foo", ".*é.*", "1|0", "(x-y|ab)", ".*;.*", "[A-Z].*", "(?i)prod|dev"])
    elif action in ("replace", "keep", "drop") and rng.random() < 0.85:
        rule["regex"] = random_regex(rng)
    if action == "replace":
        if rng.random() < 0.2:
            rule["target_label"] = rng.choice(["$1", "x_${1}", "${1}_y", "l$1"])
            rule["replacement"] = "v" + random_template(rng)  # never empty: 2.42 would delete the template name
        else:
            rule["target_label"] = rng.choice(TARGET_NAMES)
            if rng.random() < 0.8:
                rule["replacement"] = random_template(rng) if rng.random() < 0.8 else rng.choice(["", "const"])
    elif action in ("keepequal", "dropequal", "hashmod", "lowercase", "uppercase"):
        rule["target_label"] = rng.choice(TARGET_NAMES)
    if action == "hashmod":
        rule["modulus"] = rng.choice([1, 2, 3, 10, 1000, 2**40 + 7])
    return rule


def random_job(rng: random.Random, index: int) -> dict[str, Any]:
    static = []
    for t in range(TARGETS_PER_JOB):
        labels = {name: rng.choice(VALUES) for name in rng.sample(NAMES, rng.randint(0, 5))}
        static.append({"targets": [f"10.{index}.{t}.{rng.randint(1, 250)}:{rng.randint(1, 65535)}"], "labels": labels})
    rules = [random_rule(rng) for _ in range(rng.randint(1, 7))]
    job: dict[str, Any] = {"job_name": f"job-{index}", "static_configs": static, "relabel_configs": rules}
    if rng.random() < 0.3:
        job["scrape_interval"] = rng.choice(["30s", "1m30s", "15s"])
        job["scrape_timeout"] = "5s"
    if rng.random() < 0.2:
        job["metrics_path"] = "/probe"
        job["params"] = {"module": ["http_2xx"]}
    return job


def ours(job_config: dict[str, Any]) -> ScrapeJob:
    return ScrapeJob.from_config(job_config, GlobalDefaults(name_scheme=NameScheme.LEGACY))


def run_promtool(config: Path, job: str, timeout: str) -> tuple[int, str, str]:
    assert PROMTOOL is not None
    proc = subprocess.run(
        [PROMTOOL, "check", "service-discovery", f"--timeout={timeout}", str(config), job],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def outcome_summary(results: list[dict[str, Any]]) -> tuple[Counter[str], int, int]:
    kept: Counter[str] = Counter()
    dropped = refused = 0
    for result in results:
        if "error" in result:
            refused += 1
        elif not result["labels"]:
            dropped += 1
        else:
            kept[json.dumps(result["labels"], sort_keys=True, ensure_ascii=False)] += 1
    return kept, dropped, refused


def our_summary(job_config: dict[str, Any]) -> tuple[Counter[str], int, int]:
    job = ours(job_config)
    kept: Counter[str] = Counter()
    dropped = refused = 0
    for group in static_target_groups(job_config["static_configs"], job.job_name, check_addresses=False):
        for target in job.assemble_group(group, Mode.PROMETHEUS):
            if target.error is not None:
                refused += 1
            elif not target.kept:
                dropped += 1
            else:
                kept[json.dumps(target.labels, sort_keys=True, ensure_ascii=False)] += 1
    return kept, dropped, refused


def generate_jobs(rng: random.Random) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    index = 0
    while len(jobs) < JOBS:
        candidate = random_job(rng, index)
        index += 1
        try:
            ours(candidate)
        except (RelabelConfigError, ScrapeConfigError):
            continue  # the generator made a rule we refuse; invalid rules are tested below
        jobs.append(candidate)
    return jobs


def test_random_relabel_chains_agree_with_promtool(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    jobs = generate_jobs(rng)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": jobs}, allow_unicode=True, sort_keys=False))
    mismatches = []
    totals = Counter[str]()
    for job in jobs:
        name = job["job_name"]
        code, out, err = run_promtool(config, name, FAST_TIMEOUT)
        assert code == 0, f"promtool refused a config we accept ({name}): {err}"
        results = json.loads(out)
        if len(results) != TARGETS_PER_JOB:  # discovery did not finish within the short timeout: take the slow path
            code, out, err = run_promtool(config, name, "1s")
            assert code == 0, err
            results = json.loads(out)
        assert len(results) == TARGETS_PER_JOB, f"{name}: promtool reported {len(results)} targets"
        theirs, mine = outcome_summary(results), our_summary(job)
        totals.update(kept=sum(mine[0].values()), dropped=mine[1], refused=mine[2])
        if theirs != mine:
            mismatches.append(
                f"{name} rules={json.dumps(job['relabel_configs'], ensure_ascii=False)}\n"
                f"  only promtool: {sorted((theirs[0] - mine[0]).elements())[:2]}\n"
                f"  only ours:     {sorted((mine[0] - theirs[0]).elements())[:2]}\n"
                f"  dropped promtool={theirs[1]} ours={mine[1]}; refused promtool={theirs[2]} ours={mine[2]}"
            )
    assert not mismatches, "\n".join(mismatches)
    # the generator must exercise every outcome, or the comparison proves little
    assert totals["kept"] > 200
    assert totals["dropped"] > 50
    assert totals["refused"] > 0


INVALID_RULES = [
    {"action": "hashmod", "source_labels": ["a"], "target_label": "x"},  # no modulus
    {"action": "replace", "source_labels": ["a"]},  # no target
    {"action": "replace", "source_labels": ["a"], "target_label": "a-b"},  # not a legacy name
    {"action": "labelmap", "regex": "(.*)", "replacement": "a-$1"},
    {"action": "keepequal", "source_labels": ["a"], "target_label": "b", "regex": "(.*)"},
    {"action": "labeldrop", "regex": "a", "source_labels": ["a"]},
    {"action": "lowercase", "source_labels": ["a"], "target_label": "b", "replacement": "x"},
    {"action": "keep", "source_labels": ["a"], "regex": "a**"},
    {"action": "keep", "source_labels": ["a"], "regex": r"a\Z"},
    {"action": "frobnicate", "source_labels": ["a"]},
]


def test_invalid_rules_are_refused_by_both(tmp_path: Path) -> None:
    assert len(INVALID_RULES) == INVALID_CONFIGS
    for index, rule in enumerate(INVALID_RULES):
        job = {"job_name": "bad", "static_configs": [{"targets": ["a:1"]}], "relabel_configs": [rule]}
        with pytest.raises((RelabelConfigError, ScrapeConfigError)):
            ours(job)
        config = tmp_path / f"bad-{index}.yml"
        config.write_text(yaml.safe_dump({"scrape_configs": [job]}))
        code, _, err = run_promtool(config, "bad", "100ms")
        assert code != 0, f"promtool accepted {rule}"
        assert "Cannot load config" in err


def test_rendered_output_is_byte_identical(tmp_path: Path) -> None:
    """`render_json(service_discovery(...))` prints what promtool prints. Only keep/drop rules here: 2.42's
    discovered labels are right only while relabeling leaves the label set alone."""
    config_text = """
global: {scrape_interval: 15s}
scrape_configs:
  - job_name: render
    metrics_path: /probe
    params: {module: [http_2xx]}
    static_configs:
      - targets: ['10.0.0.1:9100', '10.0.0.2:9100', 'h:1', '10.0.0.1:9100']
        labels: {a: "x<&>y", b: "é\\"q\\\\", __meta_k: "\\u2028"}
    relabel_configs:
      - {source_labels: [__address__], regex: 'h:.*', action: drop}
"""
    config = tmp_path / "render.yml"
    config.write_text(config_text)
    _, out, err = run_promtool(config, "render", "1s")
    assert out, err
    assert render_json(service_discovery(config_text, "render")) == out
