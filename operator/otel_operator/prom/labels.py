"""Label names and values as Prometheus sees them: the reserved names, the two name-validity rules, sanitizing.

Prometheus 3 accepts any non-empty UTF-8 string as a label name ("utf8" scheme); Prometheus 2, and Prometheus 3
with `metric_name_validation_scheme: legacy`, accept only `[a-zA-Z_][a-zA-Z0-9_]*` ("legacy" scheme). Which one
applies is a property of the scrape config, so every check here takes the scheme.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from functools import lru_cache
from typing import Final

ADDRESS: Final = "__address__"
SCHEME: Final = "__scheme__"
METRICS_PATH: Final = "__metrics_path__"
SCRAPE_INTERVAL: Final = "__scrape_interval__"
SCRAPE_TIMEOUT: Final = "__scrape_timeout__"
JOB: Final = "job"
INSTANCE: Final = "instance"
PARAM_PREFIX: Final = "__param_"
META_PREFIX: Final = "__meta_"
RESERVED_PREFIX: Final = "__"
# Set by the target allocator around a job's rules so prometheus-operator's shard keep rule lets every target pass
# (the collector applies the shard itself); prometheus-operator's shard block names it in that keep rule.
DISABLE_SHARDING: Final = "__tmp_disable_sharding"

# Prometheus v3.13+ seeds these from the scrape config too; relabeling may override them per target, and a value
# that is not a Go boolean (`strconv.ParseBool`) makes Prometheus refuse the target.
CONVERT_CLASSIC_HISTOGRAMS_TO_NHCB: Final = "__convert_classic_histograms_to_nhcb__"
ALWAYS_SCRAPE_CLASSIC_HISTOGRAMS: Final = "__always_scrape_classic_histograms__"
SCRAPE_NATIVE_HISTOGRAMS: Final = "__scrape_native_histograms__"
HISTOGRAM_LABELS: Final = (
    CONVERT_CLASSIC_HISTOGRAMS_TO_NHCB,
    ALWAYS_SCRAPE_CLASSIC_HISTOGRAMS,
    SCRAPE_NATIVE_HISTOGRAMS,
)

# The labels a scrape config fills in before relabeling (besides `__param_<k>`); the collector adds them itself,
# so the allocator never serves them.
SCRAPE_DEFAULT_LABELS: Final = (JOB, SCRAPE_INTERVAL, SCRAPE_TIMEOUT, METRICS_PATH, SCHEME, *HISTOGRAM_LABELS)


class NameScheme(StrEnum):
    """Which label names are valid: `utf8` (Prometheus 3's default) or `legacy` (Prometheus 2)."""

    UTF8 = "utf8"
    LEGACY = "legacy"


_LEGACY_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_UNSAFE_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def is_valid_utf8(text: str) -> bool:
    """Whether `text` is valid UTF-8 once encoded, as Go's `utf8.ValidString` (a Python str fails only on lone
    surrogates, which YAML escapes can produce)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_valid_legacy_name(name: str) -> bool:
    return _LEGACY_NAME.fullmatch(name) is not None


def is_valid_label_name(name: str, scheme: NameScheme = NameScheme.UTF8) -> bool:
    """Prometheus's `ValidationScheme.IsValidLabelName`."""
    if scheme is NameScheme.LEGACY:
        return _LEGACY_NAME.fullmatch(name) is not None
    return name != "" and is_valid_utf8(name)


@lru_cache(maxsize=65536)  # label keys repeat across every object of a cluster; the cache bounds the regex cost
def sanitize_label_name(name: str) -> str:
    """Prometheus's `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]` becomes `_`, one per code
    point as Go's regexp counts runes (`é` → `_`). A leading digit is left alone: the callers' prefixes make it safe.

    prometheus-operator's `sanitizeLabelName` is the same replacement, which is why one function serves both the
    discovered `…_label_<name>` labels and the generated rules that refer to them.
    """
    return _UNSAFE_NAME_CHARS.sub("_", name)


def go_quote(text: str) -> str:
    """A double-quoted rendering close to Go's `%q`, for error messages that mirror Prometheus's."""
    return json.dumps(text, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")
