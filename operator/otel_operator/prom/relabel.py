"""Prometheus relabeling (`relabel_configs`), exactly as Prometheus v3 loads, validates and applies it.

A `RelabelConfig` validates itself when it is built, so an invalid rule never reaches processing; `relabel` is a
pure function from (labels, rules) to the new labels, or None when a rule drops the target.

Loading follows Prometheus's YAML unmarshalling: an omitted key takes its default (`separator: ";"`,
`regex: "(.*)"`, `replacement: "$1"`, `action: replace`) while an explicit empty or null value stays empty (an empty
regex matches only the empty string, an empty replacement deletes the target label). Whether `regex` was given at
all matters twice, as in Prometheus: the `replace` fast path and the `keepequal`/`dropequal` checks.

Processing mirrors Prometheus's `labels.Builder`: an empty value is the same as an absent label; iteration order
(which decides `labelmap` collisions) is the base labels in name order, then the labels set since, in the order
they were first set.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
from collections.abc import Callable, Iterable, KeysView, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, NoReturn

from otel_operator.prom.goscalar import go_uint64
from otel_operator.prom.labels import NameScheme, go_quote, is_valid_label_name
from otel_operator.prom.regex import Regex, RegexError, Template, compile_regex


class Action(StrEnum):
    REPLACE = "replace"
    KEEP = "keep"
    DROP = "drop"
    KEEPEQUAL = "keepequal"
    DROPEQUAL = "dropequal"
    HASHMOD = "hashmod"
    LABELMAP = "labelmap"
    LABELDROP = "labeldrop"
    LABELKEEP = "labelkeep"
    LOWERCASE = "lowercase"
    UPPERCASE = "uppercase"


DEFAULT_SEPARATOR: Final = ";"
DEFAULT_REGEX: Final = "(.*)"
DEFAULT_REPLACEMENT: Final = "$1"
FIELDS: Final = ("source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action")

_NEEDS_TARGET: Final = frozenset(
    {Action.REPLACE, Action.HASHMOD, Action.LOWERCASE, Action.UPPERCASE, Action.KEEPEQUAL, Action.DROPEQUAL}
)
_ONLY_TARGET: Final = frozenset({Action.LOWERCASE, Action.UPPERCASE, Action.KEEPEQUAL, Action.DROPEQUAL})
# Prometheus's check of a `$`-template name under the legacy scheme: name characters around the references.
_LEGACY_TEMPLATE: Final = compile_regex(r"(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+")
_NAME_CACHE_LIMIT: Final = 8192  # label names repeat across targets; values mostly do not

Labels = dict[str, str]
# One compiled rule: mutates the labels (and the set of names already set, when iteration order matters) and
# says whether the target is kept.
Step = Callable[[Labels, set[str] | None], bool]


class RelabelConfigError(ValueError):
    """An invalid relabel rule. The message names the job, the rule and the field, as
    `job "serviceMonitor/ns/sm/0": relabel_configs[2].regex: ...`."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        job: str | None = None,
        index: int | None = None,
        list_name: str = "relabel_configs",
    ) -> None:
        self.message = message
        self.field = field
        self.job = job
        self.index = index
        self.list_name = list_name
        where = ""
        if job is not None:
            where += f"job {go_quote(job)}: "
        if index is not None:
            where += f"{list_name}[{index}]"
            where += f".{field}: " if field else ": "
        elif field:
            where += f"{field}: "
        super().__init__(where + message)

    def located(self, job: str, index: int, list_name: str = "relabel_configs") -> RelabelConfigError:
        return RelabelConfigError(self.message, field=self.field, job=job, index=index, list_name=list_name)


@dataclass(frozen=True, slots=True)
class RelabelConfig:
    """One relabel rule. Field values are as in Prometheus YAML; `source_labels=None` and `regex=None` mean the key
    was omitted (Prometheus distinguishes those from an explicit empty value). Validated on construction."""

    source_labels: tuple[str, ...] | None = None
    separator: str = DEFAULT_SEPARATOR
    regex: str | None = None
    modulus: int = 0
    target_label: str = ""
    replacement: str = DEFAULT_REPLACEMENT
    action: Action = Action.REPLACE
    name_scheme: NameScheme = NameScheme.UTF8  # the scrape config's `metric_name_validation_scheme`
    _step: Step = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Accept plain strings and lists from callers building rules in code.
        if not isinstance(self.action, Action):
            try:
                object.__setattr__(self, "action", Action(str(self.action).lower()))
            except ValueError:
                raise RelabelConfigError(
                    f"unknown relabel action {go_quote(str(self.action))}", field="action"
                ) from None
        if not isinstance(self.name_scheme, NameScheme):
            object.__setattr__(self, "name_scheme", NameScheme(self.name_scheme))
        if self.source_labels is not None and not isinstance(self.source_labels, tuple):
            object.__setattr__(self, "source_labels", tuple(self.source_labels))
        try:
            compiled = compile_regex(DEFAULT_REGEX if self.regex is None else self.regex)
        except RegexError as err:
            raise RelabelConfigError(
                f"{go_quote(self.regex or '')} is not a valid Go regular expression: {err}", field="regex"
            ) from None
        _validate(self)
        object.__setattr__(self, "_step", _compile_step(self, compiled))

    @property
    def effective_regex(self) -> str:
        return DEFAULT_REGEX if self.regex is None else self.regex


def _validate(c: RelabelConfig) -> None:
    """Prometheus's `relabel.Config.Validate`, with the field each check is about."""
    action, target, scheme = c.action, c.target_label, c.name_scheme

    def fail(message: str, field_name: str) -> NoReturn:
        raise RelabelConfigError(message, field=field_name)

    def valid_template(value: str) -> bool:
        # a name with `$`-references: UTF-8 accepts any non-empty string; legacy wants name characters around them
        if scheme is NameScheme.LEGACY:
            return _LEGACY_TEMPLATE.match(value)
        return is_valid_label_name(value, scheme)

    if c.modulus < 0 or c.modulus >= 1 << 64:
        fail(f"modulus {c.modulus} does not fit an unsigned 64-bit integer", "modulus")
    if c.modulus == 0 and action is Action.HASHMOD:
        fail("relabel configuration for hashmod requires non-zero modulus", "modulus")
    if action in _NEEDS_TARGET and target == "":
        fail(f"relabel configuration for {action} action requires 'target_label' value", "target_label")
    invalid_target = f"{go_quote(target)} is invalid 'target_label' for {action} action"
    if action is Action.REPLACE:
        if "$" not in target and not is_valid_label_name(target, scheme):
            fail(invalid_target, "target_label")
        if "$" in target and not valid_template(target):
            fail(invalid_target, "target_label")
    if action in _ONLY_TARGET:
        if not is_valid_label_name(target, scheme):
            fail(invalid_target, "target_label")
        if c.replacement != DEFAULT_REPLACEMENT:
            fail(f"'replacement' can not be set for {action} action", "replacement")
    if action is Action.LABELMAP and not valid_template(c.replacement):
        fail(f"{go_quote(c.replacement)} is invalid 'replacement' for {action} action", "replacement")
    if action is Action.HASHMOD and not is_valid_label_name(target, scheme):
        fail(invalid_target, "target_label")
    if action in (Action.KEEPEQUAL, Action.DROPEQUAL):
        extra = [
            name
            for name, is_set in (
                ("regex", c.regex is not None),  # Prometheus compares the regex by identity: any given regex
                ("modulus", c.modulus != 0),
                ("separator", c.separator != DEFAULT_SEPARATOR),
                ("replacement", c.replacement != DEFAULT_REPLACEMENT),
            )
            if is_set
        ]
        if extra:
            fail(f"{action} action requires only 'source_labels' and `target_label`, and no other fields", extra[0])
    if action in (Action.LABELDROP, Action.LABELKEEP):
        extra = [
            name
            for name, is_set in (
                ("source_labels", c.source_labels is not None),
                ("target_label", target != ""),
                ("modulus", c.modulus != 0),
                ("separator", c.separator != DEFAULT_SEPARATOR),
                ("replacement", c.replacement != DEFAULT_REPLACEMENT),
            )
            if is_set
        ]
        if extra:
            fail(f"{action} action requires only 'regex', and no other fields", extra[0])


# --- Loading ---------------------------------------------------------------------------------------------------


def scalar_text(value: object, field_name: str) -> str:
    """A YAML scalar read into a Go string field: Go's YAML decoder takes the scalar's text (`regex: 8080`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    text = getattr(value, "yaml_text", None)  # a number that kept its YAML source text (promconfig's loader)
    if isinstance(text, str):
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise RelabelConfigError(f"must be a string, got {type(value).__name__}", field=field_name)


def _parse_rule(raw: object, scheme: NameScheme) -> RelabelConfig:
    if raw is None:
        raise RelabelConfigError("empty or null target relabeling rule in scrape config")
    if not isinstance(raw, Mapping):
        raise RelabelConfigError(f"a relabel rule must be a mapping, got {type(raw).__name__}")
    for key in raw:
        if key not in FIELDS:
            hint = difflib.get_close_matches(str(key), FIELDS, n=1)
            fix = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join(FIELDS)})"
            raise RelabelConfigError(f"unknown field {go_quote(str(key))}{fix}")
    sources: tuple[str, ...] | None = None
    if "source_labels" in raw and raw["source_labels"] is not None:
        value = raw["source_labels"]
        if not isinstance(value, list | tuple):
            raise RelabelConfigError("must be a list of label names", field="source_labels")
        sources = tuple(scalar_text(v, "source_labels") for v in value)
        for name in sources:
            if not is_valid_label_name(name, NameScheme.UTF8):  # Prometheus 3 reads source labels as UTF-8 names
                raise RelabelConfigError(f"{go_quote(name)} is not a valid label name", field="source_labels")
    try:
        modulus = go_uint64(raw.get("modulus"))  # as yaml.v2 reads it: `2.5` is 2, `1e3` 1000, `0o17` 15
    except ValueError as err:
        raise RelabelConfigError(str(err), field="modulus") from None
    action_text = scalar_text(raw["action"], "action") if "action" in raw else Action.REPLACE.value
    if "action" in raw and raw["action"] is None:
        raise RelabelConfigError("relabel action cannot be empty", field="action")
    try:
        action = Action(action_text.lower())
    except ValueError:
        raise RelabelConfigError(f"unknown relabel action {go_quote(action_text)}", field="action") from None
    return RelabelConfig(
        source_labels=sources,
        separator=scalar_text(raw["separator"], "separator") if "separator" in raw else DEFAULT_SEPARATOR,
        regex=scalar_text(raw["regex"], "regex") if "regex" in raw else None,
        modulus=modulus,
        target_label=scalar_text(raw.get("target_label"), "target_label"),
        replacement=scalar_text(raw["replacement"], "replacement") if "replacement" in raw else DEFAULT_REPLACEMENT,
        action=action,
        name_scheme=scheme,
    )


def parse_relabel_configs(
    raw: object, job: str, *, scheme: NameScheme = NameScheme.UTF8, list_name: str = "relabel_configs"
) -> tuple[RelabelConfig, ...]:
    """Load a `relabel_configs` list (plain data, as parsed from YAML or JSON) the way Prometheus loads a scrape
    config's. Raises `RelabelConfigError` naming the job, the rule index and the field."""
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise RelabelConfigError(f"must be a list of relabel rules, got {type(raw).__name__}", field=list_name, job=job)
    rules = []
    for index, item in enumerate(raw):
        try:
            rules.append(_parse_rule(item, scheme))
        except RelabelConfigError as err:
            raise err.located(job, index, list_name) from None
    return tuple(rules)


# --- Processing -------------------------------------------------------------------------------------------------


def _set(labels: Labels, touched: set[str] | None, name: str, value: str) -> None:
    """`labels.Builder.Set`: an empty value deletes; a base label set for the first time moves to the end of the
    iteration order (Go appends it to the builder's added labels), later sets keep their place."""
    if not value:
        labels.pop(name, None)
        return
    if touched is not None and name not in touched:
        touched.add(name)
        labels.pop(name, None)
    labels[name] = value


def _source_getter(names: Sequence[str], separator: str) -> Callable[[Labels], str]:
    if not names:
        return lambda labels: ""
    if len(names) == 1:
        only = names[0]
        return lambda labels: labels.get(only, "")
    if len(names) == 2:
        first, second = names
        return lambda labels: labels.get(first, "") + separator + labels.get(second, "")
    return lambda labels: separator.join([labels.get(name, "") for name in names])


@functools.cache
def _upper_rune(c: str) -> str:
    # Go maps rune by rune with the simple (1:1) mapping; Python's full mapping can give several characters
    # ("ß" → "SS"): then the one-character title case is the simple uppercase ("ᾀ" → "ᾈ"), else there is none.
    upper = c.upper()
    if len(upper) == 1:
        return upper
    title = c.title()
    return title if len(title) == 1 else c


@functools.cache
def _lower_rune(c: str) -> str:
    lower = c.lower()
    if len(lower) == 1:
        return lower
    return "i" if c == "\u0130" else c  # "İ": the only multi-character lowercase; its simple mapping is "i"


def go_upper(text: str) -> str:
    """Go's `strings.ToUpper`."""
    return text.upper() if text.isascii() else "".join(map(_upper_rune, text))


def go_lower(text: str) -> str:
    """Go's `strings.ToLower` (per rune, so no final-sigma rule)."""
    return text.lower() if text.isascii() else "".join(map(_lower_rune, text))


def hashmod(value: str, modulus: int) -> int:
    """The `hashmod` bucket: the last 8 bytes of the MD5 of the value, big-endian, modulo the modulus."""
    digest = hashlib.md5(value.encode("utf-8", "surrogatepass"), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus


class _NameMemo:
    """What a label-name regex makes of the names seen so far: which match and, for labelmap, their new names.
    Label names repeat from target to target, so set operations on the memo replace most per-name work."""

    __slots__ = ("_regex", "_seen", "_template", "hits")

    def __init__(self, regex: Regex, template: Template | None = None) -> None:
        self._regex = regex
        self._template = template
        self._seen: set[str] = set()
        self.hits: dict[str, str] = {}  # matching name → new name (labelmap) or itself

    def matching(self, names: KeysView[str]) -> set[str]:
        unknown = names - self._seen
        if unknown:
            if len(self._seen) + len(unknown) > _NAME_CACHE_LIMIT:  # a bounded memo: start over with these names
                self._seen.clear()
                self.hits.clear()
                unknown = set(names)
            regex, template = self._regex, self._template
            for name in unknown:
                if regex.match(name):
                    self.hits[name] = name if template is None else regex.replace_all(name, template)
            self._seen |= unknown
        return names & self.hits.keys()


def _compile_step(c: RelabelConfig, regex: Regex) -> Step:
    return _STEP_BUILDERS[c.action](c, regex, _source_getter(c.source_labels or (), c.separator))


def _keep_step(c: RelabelConfig, regex: Regex, get: Callable[[Labels], str]) -> Step:
    if c.action is Action.KEEP:
        return lambda labels, touched: regex.match(get(labels))
    return lambda labels, touched: not regex.match(get(labels))


def _equal_step(c: RelabelConfig, regex: Regex, get: Callable[[Labels], str]) -> Step:
    target, keep_equal = c.target_label, c.action is Action.KEEPEQUAL
    return lambda labels, touched: (labels.get(target, "") == get(labels)) == keep_equal


def _hashmod_step(c: RelabelConfig, regex: Regex, get: Callable[[Labels], str]) -> Step:
    target, modulus = c.target_label, c.modulus

    def step(labels: Labels, touched: set[str] | None) -> bool:
        _set(labels, touched, target, str(hashmod(get(labels), modulus)))
        return True

    return step


def _case_step(c: RelabelConfig, regex: Regex, get: Callable[[Labels], str]) -> Step:
    target = c.target_label
    convert = go_lower if c.action is Action.LOWERCASE else go_upper

    def step(labels: Labels, touched: set[str] | None) -> bool:
        _set(labels, touched, target, convert(get(labels)))
        return True

    return step


def _labeldrop_step(c: RelabelConfig, regex: Regex, get: Callable[[Labels], str]) -> Step:
    keep_matching = c.action is Action.LABELKEEP
    only = regex.literal
    if only is not None and not keep_matching:  # one name: no need to look at the others

        def drop_one(labels: Labels, touched: set[str] | None) -> bool:
            labels.pop(only, None)
            return True

        return drop_one
    memo = _NameMemo(regex)

    def step(labels: Labels, touched: set[str] | None) -> bool:
        matched = memo.matching(labels.keys())
        for name in matched if not keep_matching else labels.keys() - matched:
            del labels[name]
        return True

    return step


def _replace_step(c: RelabelConfig, regex: Regex, get: Callable[[Labels], str]) -> Step:
    target_label, replacement, scheme = c.target_label, c.replacement, c.name_scheme
    # Prometheus skips the regex when the value is empty, the regex was not given and nothing is templated.
    fast_empty = c.regex is None and "$" not in target_label and "$" not in replacement
    copied = regex.template(replacement).single_group
    if regex.matches_anything and regex.group_count == 1 and copied == 1 and "$" not in target_label:
        # `(.*)` → `$1`: the rule copies the joined source value (deleting the target when it is empty)

        def copy_step(labels: Labels, touched: set[str] | None) -> bool:
            _set(labels, touched, target_label, get(labels))
            return True

        return copy_step
    templated_target = "$" in target_label  # a literal target was validated when the rule was loaded
    target_template = regex.template(target_label)
    replacement_template = regex.template(replacement)

    def replace_step(labels: Labels, touched: set[str] | None) -> bool:
        value = get(labels)
        if fast_empty and not value:
            _set(labels, touched, target_label, replacement)
            return True
        groups = regex.find(value)
        if groups is None:
            return True
        target = target_label
        if templated_target:
            target = target_template.expand(groups)
            if not is_valid_label_name(target, scheme):
                return True
        _set(labels, touched, target, replacement_template.expand(groups))
        return True

    return replace_step


def _labelmap_step(c: RelabelConfig, regex: Regex, get: Callable[[Labels], str]) -> Step:
    memo = _NameMemo(regex, regex.template(c.replacement))
    new_names = memo.hits

    def labelmap_step(labels: Labels, touched: set[str] | None) -> bool:
        matched = memo.matching(labels.keys())
        if not matched:
            return True
        # A copy of each matching label (the source stays), from a snapshot as Prometheus's Builder.Range. When
        # order matters (two names may map to one), visit them in the builder's order; else any order will do.
        if touched is None:
            copies = [(new_names[name], labels[name]) for name in matched]
        else:
            copies = [(new_names[name], value) for name, value in labels.items() if name in matched]
        for new_name, value in copies:
            _set(labels, touched, new_name, value)
        return True

    return labelmap_step


def _injective(rule: RelabelConfig) -> bool:
    regex = compile_regex(rule.effective_regex)
    return regex.is_injective(regex.template(rule.replacement))


_STEP_BUILDERS: Final[dict[Action, Callable[[RelabelConfig, Regex, Callable[[Labels], str]], Step]]] = {
    Action.REPLACE: _replace_step,
    Action.KEEP: _keep_step,
    Action.DROP: _keep_step,
    Action.KEEPEQUAL: _equal_step,
    Action.DROPEQUAL: _equal_step,
    Action.HASHMOD: _hashmod_step,
    Action.LOWERCASE: _case_step,
    Action.UPPERCASE: _case_step,
    Action.LABELMAP: _labelmap_step,
    Action.LABELDROP: _labeldrop_step,
    Action.LABELKEEP: _labeldrop_step,
}


class RelabelChain:
    """A sequence of rules prepared for repeated use (build once per scrape config)."""

    __slots__ = ("_steps", "ordered", "rules")

    def __init__(self, rules: Iterable[RelabelConfig]) -> None:
        self.rules = tuple(rules)
        self._steps = tuple(rule._step for rule in self.rules)
        # Only labelmap can observe the builder's iteration order (two names mapped to one: the last one wins),
        # and only when two names can map to one.
        self.ordered = any(rule.action is Action.LABELMAP and not _injective(rule) for rule in self.rules)

    def process(self, labels: Labels, touched: set[str] | None) -> bool:
        """Apply the rules to `labels` in place; False as soon as one drops the target. `labels` must hold no empty
        values; when `self.ordered`, it must start with the base labels in name order and `touched` must name the
        labels that were set on top of them (a fresh empty set if none), otherwise `touched` may be None."""
        for step in self._steps:  # noqa: SIM110 (a plain loop is faster than all() over a generator)
            if not step(labels, touched):
                return False
        return True

    def apply(self, labels: Mapping[str, str]) -> Labels | None:
        """The relabeled labels, or None if the target is dropped."""
        if self.ordered:
            base = {name: labels[name] for name in sorted(labels) if labels[name]}
            return base if self.process(base, set()) else None
        result = {name: value for name, value in labels.items() if value}
        return result if self.process(result, None) else None

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"RelabelChain({len(self.rules)} rules)"


def relabel(labels: Mapping[str, str], rules: Sequence[RelabelConfig] | RelabelChain) -> Labels | None:
    """Apply `rules` to `labels` as Prometheus does: the new labels (empty values removed), or None if dropped.
    Pass a `RelabelChain` when the same rules run many times."""
    chain = rules if isinstance(rules, RelabelChain) else RelabelChain(rules)
    return chain.apply(labels)
