"""User relabelings (monitoring.coreos.com `RelabelConfig`) → Prometheus `relabel_configs` entries.

Each key is written only when set, in the order prometheus-operator writes them, with the action lower-cased;
an explicit `replacement: ""` is kept because it means "delete the label".

Each rendered rule is then loaded as Prometheus v3 loads a scrape config's (`prom.relabel.parse_relabel_configs`:
Go RE2 regexes, the fields each action needs or forbids, label names under the job's name validation scheme).
That covers prometheus-operator's LabelConfigValidator for Prometheus 3, and also what only Prometheus refuses
(an explicit `regex` on keepequal/dropequal, even `(.*)`): such a rule would make Prometheus reject the whole
configuration, so here it rejects just its monitor, with the field named in the CRD's terms. Only the users' rules
(the monitor's and its scrape class's) are checked; the rules prometheus-operator injects are fixed, and the tests
load every generated chain.
"""

from __future__ import annotations

import re
from typing import Final

from otel_operator.prom.labels import NameScheme
from otel_operator.prom.monitors.common import (
    Config,
    Invalid,
    Obj,
    enforced_namespace_rule,
    join,
    obj_list,
    opt_int,
    opt_str,
    set_if,
    str_list,
)
from otel_operator.prom.monitors.context import Context
from otel_operator.prom.regex import RegexError, compile_regex
from otel_operator.prom.relabel import Action, RelabelConfigError, parse_relabel_configs

ACTIONS: Final = tuple(action.value for action in Action)
# Prometheus's field names that the CRD spells differently; the others are the same in both.
_CRD_NAMES: Final = {"source_labels": "sourceLabels", "target_label": "targetLabel"}
# A field name as Prometheus's messages quote it ('target_label', `target_label`).
_QUOTED_FIELD: Final = re.compile(r"['`](source_labels|target_label|regex|replacement)['`]")
_REMOVABLE: Final = {  # the fields an action forbids, and so the fix is to remove
    Action.KEEPEQUAL: ("regex", "modulus", "separator", "replacement"),
    Action.DROPEQUAL: ("regex", "modulus", "separator", "replacement"),
    Action.LOWERCASE: ("replacement",),
    Action.UPPERCASE: ("replacement",),
    Action.LABELDROP: ("source_labels", "target_label", "modulus", "separator", "replacement"),
    Action.LABELKEEP: ("source_labels", "target_label", "modulus", "separator", "replacement"),
}


def _render(rule: Obj, path: str) -> Config:
    """One rule in Prometheus's terms; the CRD's action enum is checked here, everything else by Prometheus's rules."""
    out: Config = {}
    set_if(out, "source_labels", str_list(rule, "sourceLabels", path) or None)
    set_if(out, "separator", opt_str(rule, "separator", path))
    set_if(out, "target_label", opt_str(rule, "targetLabel", path) or None)
    set_if(out, "regex", opt_str(rule, "regex", path) or None)
    set_if(out, "modulus", opt_int(rule, "modulus", path) or None)
    set_if(out, "replacement", opt_str(rule, "replacement", path))
    action = opt_str(rule, "action", path)
    if action:
        if action.lower() not in ACTIONS:
            raise Invalid(join(path, "action"), f'"{action}" is not a relabel action; use one of {", ".join(ACTIONS)}')
        out["action"] = action.lower()
    return out


def _compiles(regex: str) -> bool:
    try:
        compile_regex(regex)
    except RegexError:
        return False
    return True


def _name_fix(scheme: NameScheme) -> str:
    if scheme is NameScheme.LEGACY:
        return (
            "with nameValidationScheme Legacy a label name is [a-zA-Z_][a-zA-Z0-9_]* (templates may add $1 or ${1}); "
            "rename it or set nameValidationScheme: UTF8"
        )
    return "a label name must be non-empty, valid UTF-8"


def _fix(field: str | None, rule: Config, scheme: NameScheme) -> str:
    """How to mend the rule, given the field Prometheus faulted."""
    if field is None:
        return ""
    if field == "regex" and not _compiles(str(rule.get("regex", ""))):
        return "write it in Go's RE2 syntax (no lookarounds, backreferences or \\Z); Prometheus anchors it as ^(?s:…)$"
    if field in rule and field in _REMOVABLE.get(Action(rule.get("action", Action.REPLACE)), ()):
        return f"remove {_CRD_NAMES.get(field, field)}"
    if field == "modulus":
        return "set modulus to the number of buckets, from 1 to 2^64-1"
    if field == "target_label" and not rule.get(field):
        return "set targetLabel to the label to write"
    # What is left is a label name Prometheus refuses: targetLabel, labelmap's replacement, or a source label
    # (Prometheus 3 reads source labels as UTF-8 names whatever the scheme).
    return _name_fix(NameScheme.UTF8 if field == "source_labels" else scheme)


def _invalid(err: RelabelConfigError, rule: Config, where: str, scheme: NameScheme) -> Invalid:
    """Prometheus's complaint about one rendered rule, in the CRD's terms and with the fix."""
    message = _QUOTED_FIELD.sub(lambda m: _CRD_NAMES.get(m[1], m[1]), err.message)
    path = where if err.field is None else join(where, _CRD_NAMES.get(err.field, err.field))
    fix = _fix(err.field, rule, scheme)
    return Invalid(path, f"{message}; {fix}" if fix else message)


def relabel_configs(owner: Obj, key: str, path: str, *, scheme: NameScheme = NameScheme.UTF8) -> list[Config]:
    """`owner[key]` (a list of RelabelConfig) rendered, each rule loaded as Prometheus v3 would load it in a job
    with the name validation `scheme`."""
    out = []
    for i, rule in enumerate(obj_list(owner, key, path)):
        where = join(join(path, key), i)
        rendered = _render(rule, where)
        try:
            parse_relabel_configs([rendered], where, scheme=scheme)
        except RelabelConfigError as err:
            raise _invalid(err, rendered, where, scheme) from None
        out.append(rendered)
    return out


def metric_relabelings(
    ctx: Context, cfg: Config, owner: Obj, path: str, *, scheme: NameScheme = NameScheme.UTF8
) -> None:
    """`metric_relabel_configs`: the scrape class's metricRelabelings, `owner`'s, then the enforced namespace label;
    left out when there are none."""
    rules = relabel_configs(ctx.scrape_class, "metricRelabelings", ctx.scrape_class_path, scheme=scheme)
    rules += relabel_configs(owner, "metricRelabelings", path, scheme=scheme)
    rules += enforced_namespace_rule(ctx.options, ctx.namespace)
    set_if(cfg, "metric_relabel_configs", rules or None)
