"""`file_sd_configs`: target groups from JSON or YAML files (mounted ConfigMaps, say), as Prometheus v3 reads them.

`files` are paths or glob patterns (`*` only in the last path element, names ending .json, .yml or .yaml: the
pattern Prometheus validates). A file's groups get sources `<path>:<i>` and the label `__meta_filepath` (the
path as globbed). A file that cannot be read or parsed keeps its last good groups; a file that is gone, or has
fewer groups than before, has the missing sources sent empty. Prometheus re-reads every file when fsnotify
reports a change and every refresh_interval (default 5 m); the poller here looks at the files' stat every second
for the first, which also sees a ConfigMap's atomic symlink swap, and re-reads everything for the second.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from otel_operator.allocator.sd.common import (
    SDConfigError,
    SDRefreshError,
    check_keys,
    decode_groups,
    duration,
    mapping,
)
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.promconfig import PromConfigError, load_yaml
from otel_operator.yamlsafe import YamlLimitError, check_aliases, describe

KIND: Final = "file_sd_configs"
DEFAULT_REFRESH: Final = 300_000  # ms
FILEPATH_LABEL: Final = "__meta_filepath"
_PATTERN: Final = re.compile(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")


@dataclass(frozen=True, slots=True)
class FileSD:
    files: tuple[str, ...]
    refresh_interval: int  # ms

    kind = KIND


def parse_file_sd(raw: object, where: str) -> FileSD:
    entry = mapping(raw, where)
    check_keys(entry, frozenset({"files", "refresh_interval"}), where, frozenset())
    files = entry.get("files")
    if files is None or files == []:
        raise SDConfigError(f"{where}.files: file service discovery config must contain at least one path name")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise SDConfigError(f"{where}.files: must be a list of paths or glob patterns")
    for i, name in enumerate(files):
        if not _PATTERN.match(name):
            raise SDConfigError(
                f"{where}.files[{i}]: path name {name!r} is not valid for file discovery: it must end in .json, "
                ".yml or .yaml, with at most one '*', in the last path element"
            )
    return FileSD(tuple(files), duration(entry, "refresh_interval", where, DEFAULT_REFRESH))


def parse_file(path: str, content: bytes) -> list[TargetGroup]:
    """One file's groups, by its extension; SDRefreshError if Prometheus would refuse it."""
    ext = os.path.splitext(path)[1].lower()
    try:
        text = content.decode()
    except UnicodeDecodeError as err:
        raise SDRefreshError(f"{path}: not UTF-8: {err}") from None
    value: Any
    if ext == ".json":
        try:
            value = json.loads(text)
        except ValueError as err:
            raise SDRefreshError(f"{path}: not JSON: {err}") from None
        groups = decode_groups(value, path)
    else:
        try:
            check_aliases(text)  # promconfig's loader has no alias budget of its own
            value = load_yaml(text)
        except YamlLimitError as err:
            raise SDRefreshError(f"{path}: {describe(err)}") from None
        except PromConfigError as err:  # also a repeated key, as yaml.UnmarshalStrict
            raise SDRefreshError(f"{path}: {err}") from None
        except RecursionError:
            raise SDRefreshError(f"{path}: parsing YAML: nested too deeply") from None
        groups = decode_groups(value, path, yaml_strings=True)
    return [TargetGroup(f"{path}:{i}", g.targets, {**g.labels, FILEPATH_LABEL: path}) for i, g in enumerate(groups)]


@dataclass(slots=True)
class FileState:
    """What one file SD has sent: the group count per file (Prometheus's lastRefresh). Pure: the poller reads
    the files and hands the results in."""

    counts: dict[str, int] = field(default_factory=dict)

    def refresh(self, results: Mapping[str, list[TargetGroup] | SDRefreshError]) -> list[TargetGroup]:
        """The updates for one scan: `results` has every file the patterns match now, each with its groups or
        the error reading it. Returns the groups to send (removals included)."""
        out: list[TargetGroup] = []
        counts: dict[str, int] = {}
        for path, result in results.items():
            if isinstance(result, SDRefreshError):
                counts[path] = self.counts.get(path, 0)  # keeps its groups: nothing is removed
                continue
            out += result
            counts[path] = len(result)
        for path, before in self.counts.items():
            now = counts.get(path, 0)
            out += [TargetGroup(f"{path}:{i}") for i in range(now, before)]
        self.counts = counts
        return out
