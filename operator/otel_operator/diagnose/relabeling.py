"""Which relabel rule dropped a target, found by running the job's chain one rule at a time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_operator.prom.monitors.common import Invalid
from otel_operator.prom.monitors.relabelings import relabel_configs
from otel_operator.prom.relabel import RelabelConfig, relabel
from otel_operator.prom.targets import DROP_TMP, NO_SHARDING, AssembledTarget, ScrapeJob


@dataclass(frozen=True, slots=True)
class Drop:
    index: int  # in the job's relabel_configs
    rule: RelabelConfig
    source_value: str  # the rule's source labels joined as the rule saw them


def dropping_rule(job: ScrapeJob, target: AssembledTarget) -> Drop | None:
    """The rule of `job` that drops `target` in the allocator (whose chain is wrapped in its own first and last
    rule, which never drop), or None when none does."""
    rules = job.settings.relabel_configs
    labels: dict[str, str] = target.discovered_labels
    for position, rule in enumerate((NO_SHARDING, *rules, DROP_TMP)):
        after = relabel(labels, [rule])
        if after is None:
            value = rule.separator.join(labels.get(name, "") for name in rule.source_labels or ())
            return Drop(position - 1, rule, value)
        labels = after
    return None


def user_rules_span(
    scrape_config: Mapping[str, Any], endpoint: Mapping[str, Any], where: str
) -> tuple[int, int] | None:
    """(first index, count) of the endpoint's own `relabelings` inside the generated `relabel_configs`; None when
    it has none. They are rendered as the generator renders them and found as a run near the end of the chain."""
    try:
        own = relabel_configs(endpoint, "relabelings", where)
    except Invalid:
        return None
    if not own:
        return None
    rules = list(scrape_config.get("relabel_configs") or ())
    for start in range(len(rules) - len(own), -1, -1):
        if rules[start : start + len(own)] == own:
            return start, len(own)
    return None
