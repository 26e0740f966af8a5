"""Differential tests against Prometheus itself: thousands of random (seeded) relabel chains over static targets,
run through `promtool check service-discovery` and through our Prometheus-mode target assembly; the post-relabel
labels, the dropped targets and the refused targets must agree (with v3, the discovered labels too).

Two oracles:

- Debian's promtool 2.42 (`promtool` on PATH, package `prometheus`; .ci/run installs it).
- promtool v3.14, the version the target allocator links, built from the Go module proxy by
  hack/prometheus_oracle.py (`make oracles`; cached, or built here when Go is installed).

Two runs, each of CHAINS chains:

- The shared run: chains that 2.42 and v3 must both get right, checked against both with the same config files.
  Ours reads them with the legacy name scheme for 2.42 (Prometheus 2 has no other) and with v3's default (utf8)
  for v3, so templated target names that only utf8 accepts are a difference the v3 check covers.
- The v3 run: the same generator with the corners where 2.42 differs from v3 by design, checked against v3 only
  (v3 is the truth where they differ; a test never takes a version's bug as the truth). 2.42 differs in:
  - anchoring: 2.42 compiles `^(?:R)$`, v3 `^(?s:R)$`, so in v3 `.` matches a newline: the v3 run has values with
    newlines, `\\n`, `(?-s:.)`, `(?m:^)`/`(?m:$)`, `\\A`, `\\z` and `^`/`$` in regexes;
  - port defaults: 2.42 adds `:80`/`:443` to an address without a port, v3 leaves it: the v3 run has some;
  - empty replacement: 2.42 deletes the un-expanded `target_label` (`${1}_y`), v3 the expanded one;
  - names: 2.42 knows only legacy names; the v3 run has UTF-8 label names and jobs of either scheme
    (`metric_name_validation_scheme`);
  - 2.42's `discoveredLabels` are wrong after relabeling (so only `labels` and the counts are compared with it),
    and it collapses the targets of one group whose results then look equal: the shared run has one target per
    group, the v3 run groups of up to four (with duplicate addresses, which v3 collapses too) and compares
    everything promtool prints.
  Both versions iterate labels in an order we do not reproduce for `labelmap` collisions (2.42 by name; v3's
  promtool in Go map order, so nondeterministically): only collision-free maps are generated.
- v3.14's `check service-discovery` panics on a group with two refused targets (it compares their errors with
  go-cmp), so in the v3 run only the first target of a group can be refused (the refusing rules match only its
  `rf…` address).
- Prometheus v3.13+ seeds `__scrape_native_histograms__`, `__always_scrape_classic_histograms__` and
  `__convert_classic_histograms_to_nhcb__` on every target (and refuses one whose relabeled value is not a Go
  boolean); 2.42 predates them. So v3's output is compared whole, the v3 run's rules read, write, delete and refuse
  on them, and only for 2.42 are they left out of ours (the shared run never names them).

Batching: promtool checks one job per run and each run costs 20-60 ms (process start, and both versions busy-wait
for the whole `--timeout`), so thousands of one-chain jobs would take minutes. Each job therefore packs CHAINS_PER_JOB
chains: every target carries its chain's marker label (`__chain`), and the rules that would drop or refuse other
chains' targets (keep, drop, keepequal, dropequal, the refusing and address-rewriting replaces) are guarded by that
marker, so each chain keeps a fair share of live targets. The other rules (replace, hashmod, labelmap, labeldrop,
labelkeep, lowercase, uppercase) apply to every target of the job, making the chains longer. The comparison never
depends on the guards: ours and promtool's run the same job. Static discovery answers at once and in one message,
so a short timeout is used and a run that reports nothing is repeated with longer ones.
"""

from __future__ import annotations

import functools
import json
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_operator.cli import main
from otel_operator.prom.labels import HISTOGRAM_LABELS, NameScheme
from otel_operator.prom.promconfig import config_from_data, render_json, service_discovery, static_target_groups
from otel_operator.prom.regex import RegexError, compile_regex
from otel_operator.prom.relabel import RelabelConfigError
from otel_operator.prom.targets import GlobalDefaults, Mode, ScrapeConfigError, ScrapeJob
from tests.unit.prom.test_relabel import MODULUS_TEXT, modulus_config

SEED = 20260921
CHAINS = 1200  # per run; two runs
CHAINS_PER_JOB = 12
TARGETS_PER_CHAIN = 24
INVALID_CONFIGS = 10
TIMEOUTS = ("10ms", "1s", "5s")  # static discovery answers at once; an empty answer is retried with more time
WORKERS = max(2, min(4, os.cpu_count() or 2))  # promtool runs in parallel with our side
READ_TEXT_EVERY = 8  # ours reads every 8th job's config file as text, the others as data (PyYAML is slow)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# What Go's strconv.ParseBool accepts: a rule writing one of these to a histogram label never refuses the target.
GO_BOOL_WORDS = ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False")

MUX = "__chain"  # each target's chain; survives every generated labeldrop/labelkeep/labelmap
STASH = "__chain_stash"  # where a guarded keepequal/dropequal parks the other chains' target label

NAMES = ["a", "b", "c", "env", "team", "zone", "__meta_kubernetes_pod_label_app", "__meta_kubernetes_pod_label_tier",
         "__meta_x", "__tmp_t", "job", "instance"]  # fmt: skip
TARGET_NAMES = ["a", "b", "c", "env", "d", "out", "team", "__tmp_x", "__meta_y", "instance", "job", "__param_p"]
VALUES = ["foo", "bar", "baz", "a;b", "x-y", "1", "01", "prod", "dev", "Σίσυφος", "straße", "MiXeD", "a.b", "k8s",
          "ab", "ba", "é", "0", "  ", "v1;true", "true", "web", "Node"]  # fmt: skip
LITERALS = "abcfor;-_:0123é ."
# (label, value) that make Prometheus refuse a target: no address, a URL, a timeout over the interval, no duration
REFUSALS = (("__address__", ""), ("__address__", "h/x:80"), ("__scrape_timeout__", "2m"), ("__scrape_interval__", "x"))
ATOMS = [".", "[a-c]", "[^;]", "[[:alpha:]]", "[0-9]", r"\d", r"\w", r"\s", r"\S", r"\pL", "[é-ë]", "(?i:a)",
         "[a-z0-9]", r"\.", "[;:]"]  # fmt: skip
TEMPLATES = ["$1", "${1}", "$2", "${2}x", "$0", "x$1", "$1-$2", "${n}", "$n", "$1x", "$$1", "lit", "v",
             "${1};${2}", "$", "a$-b", "${1", "ch${1}-ch${1}", "$01", "$10", "$1_", "${n}_$m", "$2y$1", "$é",
             "${0}${0}"]  # fmt: skip


@dataclass(frozen=True)
class Profile:
    """What a run's generator may produce. The v3 profile adds the corners where 2.42 differs by design."""

    name: str
    names: tuple[str, ...] = tuple(NAMES)
    target_names: tuple[str, ...] = tuple(TARGET_NAMES)
    values: tuple[str, ...] = tuple(VALUES)
    atoms: tuple[str, ...] = tuple(ATOMS)
    value_atoms: tuple[str, ...] = (".", r"\w", "[^;]", r"\S", r"\pL")
    labeldrop: tuple[str, ...] = ("__meta_.*", "a|b", "(te.*)", "__tmp.*", "[a-c]", "env|zone", "d", ".*x.*")
    labelmap_replacements: tuple[str, ...] = ("$1", "k8s_$1", "${1}_x")
    target_templates: tuple[str, ...] = ("$1", "x_${1}", "${1}_y", "l$1")
    empty_templated_replacement: bool = False  # 2.42 deletes the un-expanded target name
    addresses_without_port: bool = False  # 2.42 adds :80
    max_group_size: int = 1  # 2.42 collapses a group's targets whose (wrong) results look equal
    legacy_share: float = 1.0  # jobs that use the legacy name scheme (all, for 2.42)
    separators: tuple[str, ...] = (";", ",", "", "-", "::")
    moduli: tuple[int, ...] = (1, 2, 3, 10, 1000, 2**40 + 7)
    refusals: tuple[tuple[str, str], ...] = REFUSALS
    histograms: bool = False  # rules and static labels that name the v3.13+ histogram labels (2.42 has none)


V2 = Profile("shared")
# The v3 run's extra material: newlines; an empty value (an absent label); case mappings Go does rune by rune
# (final sigma, İ, ǅ, ligatures); anchors and flags that only differ once values have newlines; more durations.
V3_VALUES = ("a\nb", "\n", "foo\n", "\nbar", "x\r\ny", "tab\there", "with space", "a.b.c", "", "ΟΔΟΣ", "İi", "ǅ",
             "ﬀ", "ᾀ", "ß")  # fmt: skip
V3_ATOMS = (r"\n", "$", "^", "(?m:^)", "(?m:$)", "(?-s:.)", "[^a]", r"\A", r"\z", "(?s:.)", r"[\n;]", "(?U:a+)",
            r"\Q.*\E", r"\x{e9}", r"\p{Greek}", "[[:^alpha:]]", "(?i:ǅ)", r"\b", r"[^\n]")  # fmt: skip
V3_REFUSALS = (("__scrape_timeout__", "0s"), ("__scrape_interval__", "0"), ("__scrape_interval__", "1m1m"),
               ("__scrape_timeout__", "1d"), ("__scrape_interval__", "5y"), ("__scrape_timeout__", "-1s"),
               ("__scrape_native_histograms__", "yes"), ("__always_scrape_classic_histograms__", "2"),
               ("__convert_classic_histograms_to_nhcb__", " true"), ("__scrape_native_histograms__", "on"))  # fmt: skip
V3 = Profile(
    "v3",
    names=(*NAMES, "a.b", "é", "team name"),
    target_names=(*TARGET_NAMES, "a.b", "é", "x y"),
    values=(*VALUES, *V3_VALUES),
    atoms=(*ATOMS, *V3_ATOMS),
    value_atoms=(".", r"\w", "[^;]", r"\S", r"\pL", "(?-s:.)", r"\s"),
    labeldrop=(*V2.labeldrop, "a\\.b|é", ".* .*", "__scrape_native_histograms__|__convert.*", "__.*histograms__"),
    labelmap_replacements=("$1", "k8s_$1", "${1}_x", "${1}.x", "é$1"),
    target_templates=("$1", "x_${1}", "${1}_y", "l$1", "${1}.z", "é$1"),
    separators=(";", ",", "", "-", "::", "\n", "é"),
    moduli=(1, 2, 3, 10, 1000, 2**40 + 7, 2**64 - 1),
    refusals=(*V2.refusals, *V3_REFUSALS),
    empty_templated_replacement=True,
    addresses_without_port=True,
    max_group_size=4,
    legacy_share=0.3,
    histograms=True,
)


# --- the generator ------------------------------------------------------------------------------------------------


def _literal(rng: random.Random) -> str:
    c = rng.choice(LITERALS)
    return "\\." if c == "." and rng.random() < 0.5 else c


def _piece(rng: random.Random, profile: Profile) -> str:
    quantifier = rng.choice(["", "", "", "", "*", "+", "?", "{0,2}", "{1,}", "*?", "+?", "{2}"])
    atom = _literal(rng) if rng.random() < 0.45 else rng.choice(profile.atoms)
    return atom + quantifier


def _sequence(rng: random.Random, profile: Profile, depth: int) -> str:
    parts = []
    for _ in range(rng.randint(1, 4)):
        if depth > 0 and rng.random() < 0.25:
            inner = _sequence(rng, profile, depth - 1)
            if rng.random() < 0.3:
                inner += "|" + _sequence(rng, profile, depth - 1)
            opener = rng.choice(["(", "(", "(?:", "(?P<n>", "(?P<m>"])
            parts.append(opener + inner + ")" + rng.choice(["", "", "?", "*", "+"]))
        else:
            parts.append(_piece(rng, profile))
    return "".join(parts)


def value_regex(rng: random.Random, profile: Profile) -> str:
    """A regex derived from likely source values, so that it matches often and its groups capture something."""
    text = rng.choice(profile.values) + (";" + rng.choice(profile.values) if rng.random() < 0.4 else "")
    out = []
    for c in text:
        roll = rng.random()
        if roll < 0.15:
            out.append(rng.choice(profile.value_atoms))
        elif roll < 0.25:
            out.append("(" + ("\\" + c if not c.isalnum() and c.isascii() and c.isprintable() else c) + ")")
        elif roll < 0.3:
            out.append(".*")
        else:
            out.append("\\." if c == "." else c)
    regex = "".join(out)
    if rng.random() < 0.3:
        regex = f"({regex})"
    if rng.random() < 0.2:
        regex += "|" + rng.choice(profile.values)
    return regex


def random_regex(rng: random.Random, profile: Profile) -> str:
    roll = rng.random()
    value = rng.choice(profile.values)
    shapes = ["(.*)", "(.+)", ".*", value, f"{value[:1]}(.*)", f"({value}|bar);true", "(foo|bar)",
              f"(.*){value[-1:]}", "f(.*)", "(.*);(.*)", "(.+);(.*)", ".*o.*", "(?i)foo", "(?i)(.*)", "([^;]*);.*",
              "(b).*b(.*)ba(.*)"]  # fmt: skip
    if roll < 0.35:
        text = rng.choice(shapes)
    elif roll < 0.7:
        text = value_regex(rng, profile)
    else:
        text = _sequence(rng, profile, 2)
        if rng.random() < 0.2:
            text += "|" + _sequence(rng, profile, 1)
    try:
        compile_regex(text)
    except RegexError:
        return "(.*)"
    return text


def _shaped_rule(rng: random.Random, action: str, profile: Profile) -> dict[str, Any] | None:
    """The rules of a fixed shape (None for the others)."""
    if action == "refuse":  # make Prometheus refuse some targets
        target, replacement = rng.choice(profile.refusals)
        return {
            "source_labels": [rng.choice(profile.names)],
            "regex": rng.choice(["(.+)", ".*[ao].*", "[fb].*"]),
            "target_label": target,
            "replacement": replacement,
        }
    if action == "address":  # rewrite the address (with a port: 2.42 would add one; without, never to nothing)
        port = f":{rng.randint(1, 65535)}" if not profile.addresses_without_port or rng.random() < 0.6 else ""
        return {"source_labels": [rng.choice(["a", "b", "team"])], "regex": "([^:]*)" if port else "([^:]+)",
                "target_label": "__address__", "replacement": f"$1{port}"}  # fmt: skip
    if action == "labelmap":
        prefix = rng.choice(["__meta_kubernetes_pod_label_", "__meta_", "t"])
        replacement = rng.choice(profile.labelmap_replacements)
        return {"action": "labelmap", "regex": f"{prefix}(.+)", "replacement": replacement}
    if action in ("labeldrop", "labelkeep"):
        regex = rng.choice(profile.labeldrop)
        if action == "labelkeep":
            regex = "__.*|" + regex  # keep the scrape internals (and the chain marker), or every target is refused
        return {"action": action, "regex": regex}
    if action == "histogram":  # a per-target histogram setting: a boolean Go accepts, or deleted (never refuses)
        return {"source_labels": [rng.choice([*profile.names, *HISTOGRAM_LABELS])],
                "regex": rng.choice(["(.*)", "(.+)", "f.*", "[^;]*e"]), "target_label": rng.choice(HISTOGRAM_LABELS),
                "replacement": rng.choice([*GO_BOOL_WORDS, ""])}  # fmt: skip
    return None


def random_rule(rng: random.Random, profile: Profile) -> dict[str, Any]:
    action = rng.choices(
        ["replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap", "labeldrop", "labelkeep",
         "lowercase", "uppercase", "address", "refuse", "histogram"],
        weights=[30, 8, 8, 3, 3, 5, 4, 4, 2, 3, 3, 3, 4, 3 if profile.histograms else 0],
    )[0]  # fmt: skip
    shaped = _shaped_rule(rng, action, profile)
    if shaped is not None:
        return shaped
    names = list(profile.names)
    readable = [*names, "__address__", *(HISTOGRAM_LABELS if profile.histograms else ())]
    sources = rng.sample(readable, rng.randint(0, 3))
    rule: dict[str, Any] = {"action": action if rng.random() < 0.8 else action.upper()}
    if sources or rng.random() < 0.5:
        rule["source_labels"] = sources
    if action in ("replace", "keep", "drop") and rng.random() < 0.3:
        rule["separator"] = rng.choice(profile.separators)
    if action in ("keepequal", "dropequal"):
        if action == "keepequal" and rng.random() < 0.5:  # sometimes equal, so that not every target is dropped
            name = rng.choice(names)
            rule["source_labels"], rule["target_label"] = [name], name
        else:
            rule["target_label"] = rng.choice(profile.target_names)
            if sources:  # the guard around it needs the target outside the sources
                rule["source_labels"] = [name for name in sources if name != rule["target_label"]]
        return rule
    if action == "keep" and rng.random() < 0.8:  # regexes that keep some targets and not others
        rule["regex"] = rng.choice([".*[aeo].*", ".+", "[^;]*", ".{0,4}", "(.*);.*", r"\D*", "(?i).*[mb].*"])
    elif action == "drop" and rng.random() < 0.6:
        rule["regex"] = rng.choice(["foo", ".*é.*", "1|0", "(x-y|ab)", ".*;.*", "[A-Z].*", "(?i)prod|dev"])
    elif action in ("replace", "keep", "drop") and rng.random() < 0.85:
        rule["regex"] = random_regex(rng, profile)
    if action == "replace":
        if rng.random() < 0.2:
            rule["target_label"] = rng.choice(profile.target_templates)
            if profile.empty_templated_replacement and rng.random() < 0.25:
                rule["replacement"] = rng.choice(["", "$9"])  # deletes the expanded target
            else:
                rule["replacement"] = "v" + rng.choice(TEMPLATES)  # never empty: 2.42 would delete the template name
        else:
            rule["target_label"] = rng.choice(profile.target_names)
            if rng.random() < 0.8:
                rule["replacement"] = rng.choice(TEMPLATES) if rng.random() < 0.8 else rng.choice(["", "const"])
    elif action in ("hashmod", "lowercase", "uppercase"):
        rule["target_label"] = rng.choice(profile.target_names)
    if action == "hashmod":
        rule["modulus"] = rng.choice(profile.moduli)
    return rule


def random_chain(rng: random.Random, profile: Profile) -> list[dict[str, Any]]:
    return [random_rule(rng, profile) for _ in range(rng.randint(1, 7))]


# --- packing chains into jobs -------------------------------------------------------------------------------------


def quote_meta(text: str) -> str:
    """Go's `regexp.QuoteMeta`."""
    return "".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in text)


def marker(chain: int) -> str:
    return f"c{chain:04d}"  # one width: no marker is a prefix of another


@dataclass
class PackedJob:
    """One promtool job: its config (one scrape config), the chains it packs and their rules as generated."""

    config: dict[str, Any]
    scheme: NameScheme  # the chains are valid under it (2.42's, for the shared run: legacy)
    chains: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # marker → the chain as generated

    @property
    def name(self) -> str:
        return str(self.config["job_name"])

    @functools.cached_property
    def text(self) -> str:
        """The config file promtool reads (libyaml's emitter when there is one: PyYAML's takes longer than
        promtool)."""
        return yaml.dump({"scrape_configs": [self.config]}, Dumper=DUMPER, allow_unicode=True, sort_keys=False)


def _guard_match(rule: dict[str, Any], own: str, others: str, *, refusable_only: bool) -> dict[str, Any]:
    """`rule` (keep, drop, or a replace that refuses or moves the target) acting only on targets of chain `own`:
    the marker joins the sources in front, the regex requires it. A keep lets the other chains' targets pass.
    `refusable_only`: also only on the first target of a group (its address starts with `rf`)."""
    sources = list(rule.get("source_labels") or [])
    separator = str(rule.get("separator", ";"))
    regex = str(rule.get("regex", "(.*)"))
    guard_sources = [MUX]
    prefix = quote_meta(own)
    if refusable_only:
        assert sources, "a refusing rule has sources"
        assert separator == ";", "a refusing rule has the default separator"
        guard_sources.append("__address__")
        prefix += ";rf[^;]*"  # addresses have no `;`; only the refusable targets' start with `rf`
    guarded = {**rule, "source_labels": guard_sources + sources}
    own_branch = prefix + (quote_meta(separator) if sources else "") + f"(?:{regex})"
    is_keep = str(rule.get("action", "replace")).lower() == "keep"
    guarded["regex"] = f"{own_branch}|{others}(?s:.*)" if is_keep else own_branch
    return guarded


def _guard_equal(rule: dict[str, Any], others: str) -> list[dict[str, Any]]:
    """A keepequal/dropequal that the other chains' targets pass: for them the target label is parked, set to the
    joined sources (keepequal) or something else (dropequal), and put back afterwards."""
    sources, target = list(rule.get("source_labels") or []), str(rule["target_label"])
    if sources == [target]:  # keepequal of a label with itself keeps everything
        return [rule]
    assert target not in sources
    joined = f"{others};((?s:.*))" if sources else f"{others}()"
    keep_equal = str(rule["action"]).lower() == "keepequal"
    return [
        {"source_labels": [MUX, target], "regex": f"{others};((?s:.*))", "target_label": STASH, "replacement": "$1"},
        {"source_labels": [MUX, *sources], "regex": joined, "target_label": target,
         "replacement": "$1" if keep_equal else "${1}~"},
        rule,
        {"source_labels": [MUX, STASH], "regex": f"{others};((?s:.*))", "target_label": target, "replacement": "$1"},
        {"action": "labeldrop", "regex": STASH},
    ]  # fmt: skip


def guarded_chain(chain: list[dict[str, Any]], own: str, others: str, profile: Profile) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rule in chain:
        action = str(rule.get("action", "replace")).lower()
        target = rule.get("target_label")
        if action in ("keep", "drop"):
            out.append(_guard_match(rule, own, others, refusable_only=False))
        elif action in ("keepequal", "dropequal"):
            out.extend(_guard_equal(rule, others))
        elif action == "replace" and target == "__address__" and rule.get("regex") in ("([^:]*)", "([^:]+)"):
            out.append(_guard_match(rule, own, others, refusable_only=False))  # an address rewrite
        elif action == "replace" and (
            target in ("__address__", "__scrape_timeout__", "__scrape_interval__")
            or (target in HISTOGRAM_LABELS and rule.get("replacement") not in (*GO_BOOL_WORDS, ""))
        ):
            out.append(_guard_match(rule, own, others, refusable_only=profile.max_group_size > 1))  # refuses
        else:
            out.append(rule)
    return out


def _address(rng: random.Random, chain: int, group: int, index: int, profile: Profile) -> str:
    port = f":{rng.randint(1, 65535)}"
    if profile.addresses_without_port and rng.random() < 0.25:
        port = ""
    if profile.max_group_size > 1 and index == 0:
        return f"rf{chain}-{group}{port}"  # the only target of its group that a rule may refuse
    return f"10.{chain % 250}.{group}.{index}{port}"


def static_configs(rng: random.Random, chain: int, profile: Profile) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    count = 0
    while count < TARGETS_PER_CHAIN:
        size = min(rng.randint(1, profile.max_group_size), TARGETS_PER_CHAIN - count)
        targets = [_address(rng, chain, len(groups), i, profile) for i in range(size)]
        if size > 2 and rng.random() < 0.3:
            targets[-1] = targets[1]  # a duplicate: promtool reports it once (never a refusable one: v3 panics)
        labels = {name: rng.choice(profile.values) for name in rng.sample(profile.names, rng.randint(0, 5))}
        if profile.histograms and rng.random() < 0.15:  # the group sets one itself: the scrape config's is not seeded
            labels[rng.choice(HISTOGRAM_LABELS)] = rng.choice(GO_BOOL_WORDS)  # a group-wide refusal would panic v3
        if size > 1 and rng.random() < 0.05:
            labels["__address__"] = "group-address:1"  # the targets' own addresses win
        labels[MUX] = marker(chain)
        groups.append({"targets": targets, "labels": labels})
        count += size
    return groups


def ours(job_config: dict[str, Any], scheme: NameScheme) -> ScrapeJob:
    return ScrapeJob.from_config(job_config, GlobalDefaults(name_scheme=scheme))


def _valid(chain: list[dict[str, Any]], scheme: NameScheme) -> bool:
    try:
        ours({"job_name": "probe", "relabel_configs": chain}, scheme)
    except (RelabelConfigError, ScrapeConfigError):
        return False
    return True


def pack_jobs(rng: random.Random, profile: Profile, chains: int) -> list[PackedJob]:
    """`chains` chains, CHAINS_PER_JOB to a job. A chain we refuse is generated again (invalid rules are tested
    below)."""
    jobs: list[PackedJob] = []
    for first in range(0, chains, CHAINS_PER_JOB):
        ids = range(first, min(first + CHAINS_PER_JOB, chains))
        scheme = NameScheme.LEGACY if rng.random() < profile.legacy_share else NameScheme.UTF8
        config: dict[str, Any] = {"job_name": f"{profile.name}-{len(jobs)}"}
        if scheme is NameScheme.LEGACY and profile is not V2:
            config["metric_name_validation_scheme"] = "legacy"  # 2.42 knows no such key: legacy is all it has
        if rng.random() < 0.3:
            config["scrape_interval"] = rng.choice(["30s", "1m30s", "15s"])
            config["scrape_timeout"] = "5s"
        if rng.random() < 0.2:
            config["metrics_path"] = "/probe"
            config["params"] = {"module": ["http_2xx"]}
        job = PackedJob(config, scheme)
        rules: list[dict[str, Any]] = []
        config["static_configs"] = []
        for chain in ids:
            generated = random_chain(rng, profile)
            while not _valid(generated, scheme):
                generated = random_chain(rng, profile)
            own = marker(chain)
            # a job of one chain has no others: a marker no chain has keeps the guards' other branch unmatched
            others = "(?:" + "|".join([marker(c) for c in ids if c != chain] or [marker(9999)]) + ")"
            job.chains[own] = generated
            rules += guarded_chain(generated, own, others, profile)
            config["static_configs"] += static_configs(rng, chain, profile)
        config["relabel_configs"] = rules
        jobs.append(job)
    return jobs


# --- running promtool ---------------------------------------------------------------------------------------------


def run_promtool(binary: str, config: Path, job: str, timeout: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "check", "service-discovery", f"--timeout={timeout}", str(config), job],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def promtool_output(binary: str, config: Path, job: str) -> str:
    """What promtool prints for `job`. Static discovery sends every group in one message, so an answer is complete
    or empty; an empty one is asked again with more time."""
    out = "[]"
    for timeout in TIMEOUTS:
        proc = run_promtool(binary, config, job, timeout)
        assert proc.returncode == 0, f"{binary} refused {config.name} ({job}), which we accept:\n{proc.stderr[:3000]}"
        out = proc.stdout
        if out != "[]":
            break
    return out


def discover(binary: str, config: Path, job: str) -> list[dict[str, Any]]:
    """promtool's results for `job`, parsed."""
    results: list[dict[str, Any]] = json.loads(promtool_output(binary, config, job))
    return results


def discover_all(binary: str, jobs: Sequence[PackedJob], folder: Path) -> Iterator[tuple[PackedJob, Future[Any]]]:
    """Every job's promtool results, run WORKERS at a time while the caller works out ours."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for job in jobs:
        path = folder / f"{job.name}.yml"
        path.write_text(job.text)
        paths.append(path)
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(discover, binary, path, job.name) for job, path in zip(jobs, paths, strict=True)]
        yield from zip(jobs, futures, strict=True)


# --- comparing ----------------------------------------------------------------------------------------------------


def canonical(labels: dict[str, Any]) -> str:
    return json.dumps(labels, sort_keys=True, ensure_ascii=False)


def before_v3_13(labels: dict[str, str]) -> dict[str, str]:
    """Our labels without the three histogram labels that Prometheus seeds since v3.13, for 2.42's comparison."""
    return {name: value for name, value in labels.items() if name not in HISTOGRAM_LABELS}


Summary = tuple[Counter[str], int, int]  # kept label sets, dropped, refused


def promtool_summary(results: list[dict[str, Any]]) -> Summary:
    kept: Counter[str] = Counter()
    dropped = refused = 0
    for result in results:
        if "error" in result:
            refused += 1
        elif not result["labels"]:
            dropped += 1
        else:
            kept[canonical(result["labels"])] += 1
    return kept, dropped, refused


def our_summary(job: PackedJob, scheme: NameScheme) -> Summary:
    scrape_job = ours(job.config, scheme)
    kept: Counter[str] = Counter()
    dropped = refused = 0
    for group in static_target_groups(job.config["static_configs"], job.name, check_addresses=False):
        for target in scrape_job.assemble_group(group, Mode.PROMETHEUS):
            if target.error is not None:
                refused += 1
            elif not target.kept:
                dropped += 1
            else:
                kept[canonical(before_v3_13(target.labels))] += 1
    return kept, dropped, refused


def v3_entries(results: list[dict[str, Any]]) -> Counter[str]:
    """v3's results as comparable entries: discovered labels, labels, whether refused."""
    return Counter(
        canonical(
            {
                "discovered": canonical(result["discoveredLabels"]),
                "labels": canonical(result["labels"]),
                "refused": "error" in result,
            }
        )
        for result in results
    )


def our_entries(job: PackedJob, index: int) -> Counter[str]:
    """Ours as promtool prints them: `service_discovery` of the config file promtool reads, or of the same config as
    data (parsing the text takes ~0.3 s a job, more than all the rest)."""
    config = job.text if index % READ_TEXT_EVERY == 0 else config_from_data({"scrape_configs": [job.config]})
    return Counter(
        canonical(
            {"discovered": canonical(entry["discoveredLabels"]), "labels": canonical(entry["labels"]),
             "refused": "error" in entry}
        )
        for entry in service_discovery(config, job.name)
    )  # fmt: skip


def _chains_named(job: PackedJob, entries: Sequence[str]) -> str:
    found = sorted({label for entry in entries for label in job.chains if label in entry})
    return "\n".join(f"  chain {m}: {json.dumps(job.chains[m], ensure_ascii=False)}" for m in found[:3])


def mismatch(job: PackedJob, theirs: Counter[str], mine: Counter[str], extra: str = "") -> str:
    only_theirs, only_mine = sorted((theirs - mine).elements()), sorted((mine - theirs).elements())
    return (
        f"{job.name}: {extra}\n  only promtool: {only_theirs[:2]}\n  only ours:     {only_mine[:2]}\n"
        + _chains_named(job, only_theirs[:2] + only_mine[:2])
    )


@dataclass
class Tally:
    """What a run exercised, so that a generator that stops producing some outcome is noticed."""

    kept: int = 0
    dropped: int = 0
    refused: int = 0
    targets: int = 0
    chains: int = 0

    def add(self, summary: Summary, chains: int) -> None:
        self.kept += sum(summary[0].values())
        self.dropped += summary[1]
        self.refused += summary[2]
        self.targets += sum(summary[0].values()) + summary[1] + summary[2]
        self.chains += chains

    def check(self) -> None:
        assert self.chains >= 1000
        assert self.kept > self.targets // 20, self
        assert self.dropped > self.targets // 20, self
        assert self.refused > 10, self


@pytest.fixture(scope="module")
def shared_jobs() -> list[PackedJob]:
    return pack_jobs(random.Random(SEED), V2, CHAINS)


Compare = Callable[[PackedJob, int, list[Any]], tuple[str, Summary]]  # (job, its index, promtool's results)


def compare_runs(binary: str, jobs: Sequence[PackedJob], folder: Path, compare: Compare) -> Tally:
    started = time.monotonic()
    tally = Tally()
    mismatches: list[str] = []
    for index, (job, future) in enumerate(discover_all(binary, jobs, folder)):
        problem, summary = compare(job, index, future.result())
        tally.add(summary, len(job.chains))
        if problem:
            mismatches.append(problem)
    print(f"{binary}: {tally} in {time.monotonic() - started:.1f}s")  # shown with -s: the test's size and cost
    assert not mismatches, f"{len(mismatches)} of {len(jobs)} jobs differ:\n" + "\n".join(mismatches[:5])
    return tally


@pytest.mark.timeout(600)
def test_shared_chains_agree_with_promtool_2(promtool_2: str, shared_jobs: list[PackedJob], tmp_path: Path) -> None:
    def compare(job: PackedJob, index: int, results: list[Any]) -> tuple[str, Summary]:
        theirs, mine = promtool_summary(results), our_summary(job, NameScheme.LEGACY)
        if theirs == mine:
            return "", mine
        counts = f"dropped promtool={theirs[1]} ours={mine[1]}; refused promtool={theirs[2]} ours={mine[2]}"
        return mismatch(job, theirs[0], mine[0], counts), mine

    compare_runs(promtool_2, shared_jobs, tmp_path, compare).check()


def _compare_v3(job: PackedJob, index: int, results: list[Any]) -> tuple[str, Summary]:
    theirs, mine = v3_entries(results), our_entries(job, index)
    summary = promtool_summary(results)
    scheme = job.config.get("metric_name_validation_scheme", NameScheme.UTF8.value)  # v3's default is utf8
    return ("" if theirs == mine else mismatch(job, theirs, mine, f"scheme {scheme}")), summary


@pytest.mark.timeout(900)  # a first run may build promtool v3
def test_shared_chains_agree_with_promtool_3(shared_jobs: list[PackedJob], promtool_3: str, tmp_path: Path) -> None:
    """The same config files; ours reads them with v3's default (utf8) name scheme, as v3 does."""
    compare_runs(promtool_3, shared_jobs, tmp_path, _compare_v3).check()


@pytest.mark.timeout(900)
def test_v3_corners_agree_with_promtool_3(promtool_3: str, tmp_path: Path) -> None:
    """Newlines, addresses without a port, empty replacements of templated targets, UTF-8 names, both name
    schemes, groups of several targets: where 2.42 differs from v3 by design, checked against v3 alone."""
    jobs = pack_jobs(random.Random(SEED + 3), V3, CHAINS)
    assert any(job.scheme is NameScheme.LEGACY for job in jobs)
    assert any(job.scheme is NameScheme.UTF8 for job in jobs)
    compare_runs(promtool_3, jobs, tmp_path, _compare_v3).check()


# --- invalid configs and the rendering ----------------------------------------------------------------------------

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


def _check_invalid_rules(binary: str, folder: Path, extra: dict[str, Any]) -> None:
    assert len(INVALID_RULES) == INVALID_CONFIGS
    for index, rule in enumerate(INVALID_RULES):
        job = {"job_name": "bad", "static_configs": [{"targets": ["a:1"]}], "relabel_configs": [rule], **extra}
        with pytest.raises((RelabelConfigError, ScrapeConfigError)):
            ours(job, NameScheme.LEGACY)
        config = folder / f"bad-{index}.yml"
        config.write_text(yaml.safe_dump({"scrape_configs": [job]}))
        proc = run_promtool(binary, config, "bad", "100ms")
        assert proc.returncode != 0, f"{binary} accepted {rule}"
        assert "Cannot load config" in proc.stderr


def test_invalid_rules_are_refused_by_promtool_2_and_us(promtool_2: str, tmp_path: Path) -> None:
    _check_invalid_rules(promtool_2, tmp_path, {})


@pytest.mark.timeout(900)  # a first run may build promtool v3
def test_invalid_rules_are_refused_by_promtool_3_and_us(promtool_3: str, tmp_path: Path) -> None:
    """With the legacy scheme, which makes `a-b` an invalid name in v3 too."""
    _check_invalid_rules(promtool_3, tmp_path, {"metric_name_validation_scheme": "legacy"})


RENDER_CONFIG = """
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


def test_rendered_output_is_byte_identical_to_promtool_2(promtool_2: str, tmp_path: Path) -> None:
    """`render_json(service_discovery(...))` prints what promtool prints. Only keep/drop rules here: 2.42's
    discovered labels are right only while relabeling leaves the label set alone. 2.42 predates the v3.13+
    histogram labels, so ours are printed without them."""
    config = tmp_path / "render.yml"
    config.write_text(RENDER_CONFIG)
    ours = [
        {**entry, "discoveredLabels": before_v3_13(entry["discoveredLabels"]), "labels": before_v3_13(entry["labels"])}
        for entry in service_discovery(RENDER_CONFIG, "render")
    ]
    assert render_json(ours) == promtool_output(promtool_2, config, "render")


@pytest.mark.timeout(900)
def test_rendered_output_is_byte_identical_to_promtool_3(
    promtool_3: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same with v3, whole: a rule that changes the label set (v3's discovered labels stay right), the
    histogram settings from the job and from rules, one target refused for one of them, and a null label name."""
    path = "    metrics_path: /probe\n"
    text = (
        RENDER_CONFIG.replace(path, path + "    scrape_native_histograms: on\n").replace(
            '__meta_k: "\\u2028"}', '__meta_k: "\\u2028", ~: "null name"}'
        )
        + '      - {source_labels: [a], regex: "x(.*)y", target_label: c, replacement: "$1\\n"}\n'
        + "      - {source_labels: [__address__], regex: '10.0.0.1:.*',\n"
        "         target_label: __always_scrape_classic_histograms__, replacement: T}\n"
        + "      - {source_labels: [__address__], regex: '10.0.0.2:.*',\n"
        "         target_label: __convert_classic_histograms_to_nhcb__, replacement: maybe}\n"
    )
    config = tmp_path / "render.yml"
    config.write_text(text)
    out = promtool_output(promtool_3, config, "render")
    for seen in ('"__scrape_native_histograms__": "true"', '"": "null name"', '"error": {}'):
        assert seen in out
    assert render_json(service_discovery(text, "render")) == out
    assert main(["check", "service-discovery", str(config), "render"]) == 0  # the command prints exactly that
    assert capsys.readouterr().out == out


# --- the histogram settings, the modulus and the null label name, case by case ------------------------------------

HISTOGRAM_JOB = "scrape_configs:\n- job_name: j\n{keys}  static_configs: [{{targets: [{targets}]{labels}}}]\n{rules}"
# (case, global section, job keys, static labels, relabel rules): one group each, at most one target refused
# (v3.14's check service-discovery panics on two), so that promtool's text is one fixed order to compare bytes with.
HISTOGRAM_CASES: list[tuple[str, str, str, str, list[str]]] = [
    ("defaults", "", "", "", []),
    ("native from global", "scrape_native_histograms: true", "", "", []),
    ("classic and conversion from global, the job overrides one",
     "always_scrape_classic_histograms: true, convert_classic_histograms_to_nhcb: yes",
     "  always_scrape_classic_histograms: false\n", "", []),
    ("a null in the job inherits", "scrape_native_histograms: true", "  scrape_native_histograms: ~\n", "", []),
    ("YAML 1.1 words", "", "  scrape_native_histograms: Y\n  convert_classic_histograms_to_nhcb: On\n", "", []),
    ("a group sets one itself", "", "", ", labels: {__scrape_native_histograms__: 'TRUE', b: x}", []),
    ("every word Go parses", "", "", "",
     [f"{{source_labels: [__address__], regex: 't{i}:1', target_label: {label}, replacement: '{word}'}}"
      for i, (label, word) in enumerate(zip(HISTOGRAM_LABELS * 4, GO_BOOL_WORDS, strict=False))]),
    ("a word Go does not parse refuses", "", "", "",
     ["{source_labels: [__address__], regex: 't0:1', target_label: __scrape_native_histograms__, replacement: yes}"]),
    ("a group's bad value refuses its one target", "", "", ", labels: {__always_scrape_classic_histograms__: maybe}",
     []),
    ("deleted: not checked, not put back", "", "", "",
     ["{target_label: __scrape_native_histograms__, replacement: ''}",
      "{action: labeldrop, regex: '__(always|convert).*'}"]),
    ("rules read them", "scrape_native_histograms: true", "", "",
     ["{source_labels: [__scrape_native_histograms__, __always_scrape_classic_histograms__], target_label: s}",
      "{source_labels: [__scrape_native_histograms__], regex: 'false', action: drop}",
      "{source_labels: [__address__], regex: 't1:.*', target_label: __scrape_native_histograms__, replacement: f}",
      "{source_labels: [__scrape_native_histograms__], regex: 'f', action: drop}"]),
    ("hashmod into one", "", "", "",
     ["{action: hashmod, source_labels: [__address__], target_label: __convert_classic_histograms_to_nhcb__,"
      " modulus: 2}"]),
    ("labelmap onto one", "", "", ", labels: {__meta_h: '0'}",
     ["{action: labelmap, regex: '__meta_h', replacement: __scrape_native_histograms__}"]),
    ("a null label name", "", "", ", labels: {~: foo, b: x}",
     ["{action: labelmap, regex: '(b)', replacement: 'c$1'}"]),
]  # fmt: skip


ONE_TARGET = frozenset({"a group's bad value refuses its one target"})  # the group's labels would refuse them all


def histogram_case_config(case: str, global_keys: str, keys: str, labels: str, rules: list[str]) -> str:
    targets = ", ".join(f"'t{i}:1'" for i in range(1 if case in ONE_TARGET else 12))
    text = (f"global: {{{global_keys}}}\n" if global_keys else "") + HISTOGRAM_JOB.format(
        keys=keys, targets=targets, labels=labels,
        rules="  relabel_configs:\n" + "".join(f"  - {rule}\n" for rule in rules) if rules else "",
    )  # fmt: skip
    return text


@pytest.mark.timeout(900)
@pytest.mark.parametrize("row", HISTOGRAM_CASES, ids=[c for c, *_ in HISTOGRAM_CASES])
def test_histogram_settings_print_as_promtool_3(
    row: tuple[str, str, str, str, list[str]], promtool_3: str, tmp_path: Path
) -> None:
    text = histogram_case_config(*row)
    config = tmp_path / "h.yml"
    config.write_text(text)
    assert render_json(service_discovery(text, "j")) == promtool_output(promtool_3, config, "j")


def _modulus_answer(binary: str, folder: Path, index: int, text: str) -> tuple[str, object]:
    config = folder / f"m{index}.yml"
    config.write_text(modulus_config(text))
    proc = run_promtool(binary, config, "j", "10ms")
    if proc.returncode != 0:
        return "refused", proc.stderr
    return "buckets", [result["labels"]["h"] for result in json.loads(proc.stdout)]


@pytest.mark.timeout(900)
def test_modulus_reads_as_promtool_3(promtool_3: str, tmp_path: Path) -> None:
    """Every row of test_relabel.py's MODULUS_TEXT is what promtool does: the same buckets (eight targets tell the
    moduli apart), or a refusal in the same words."""
    with ThreadPoolExecutor(WORKERS) as pool:
        answers = list(
            pool.map(lambda i: _modulus_answer(promtool_3, tmp_path, i, MODULUS_TEXT[i][0]), range(len(MODULUS_TEXT)))
        )
    wrong = []
    for (text, expected), (kind, detail) in zip(MODULUS_TEXT, answers, strict=True):
        if isinstance(expected, int):
            ours = [entry["labels"]["h"] for entry in service_discovery(modulus_config(text), "j")]
            if kind != "buckets" or detail != ours:
                wrong.append(f"{text!r}: promtool {kind} {detail}, ours modulus {expected} {ours}")
        elif kind != "refused" or expected not in str(detail):
            wrong.append(f"{text!r}: promtool {kind} {detail!r}, ours refuses with {expected!r}")
    assert not wrong, "\n".join(wrong)
