"""Reading YAML that someone else wrote: PyYAML's safe loader, with bounded alias expansion and nesting.

An alias (`*name`) costs a few bytes and stands for the whole anchored value, so a 1 KB file of nested aliases
(`&b [*a, *a, ...]`) stands for gigabytes. PyYAML builds it cheaply (the copies are shared), but anything that later
walks the data (validation, hashing, serving `/scrape_configs`) does the full expansion.

Aliases are capped, not refused: Prometheus (yaml.v2), the Collector (yaml.v3) and kubectl (sigs.k8s.io/yaml) all
accept them, and configs use them for shared relabel rules and `<<: *defaults` merges. The cap is on the size
written out: a node counts 1, a scalar 1 more per character, and every alias counts the whole value it stands for.
A stream may expand to ALIAS_FLOOR or ALIAS_RATIO times its written size, whichever is more: 4,000,000 is about
4 MB of YAML (some 2,000 jobs sharing 20 relabel rules), far above what sharing a few rules needs, and a big file
may still expand to ten times its size. A file with the values written out is therefore never refused (nothing
expands). An alias inside its own anchor's value (an endless structure) and nesting deeper than MAX_DEPTH are refused
too.

Every error is a `yaml.MarkedYAMLError` (callers that catch `yaml.YAMLError` keep working); `describe` makes any
YAML error one line with its line and column.
"""

from __future__ import annotations

from typing import Any, Final

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

ALIAS_FLOOR: Final = 4_000_000
ALIAS_RATIO: Final = 10
MAX_DEPTH: Final = 100  # three Python frames a level while composing; real configs nest under 20
ALIAS_FIX: Final = "write the repeated values out instead of aliasing them"


class YamlLimitError(yaml.MarkedYAMLError):
    """The document is valid YAML but too big once its aliases are expanded, endless, or nested too deeply."""


def _size(node: Node, sizes: dict[int, int]) -> int:
    if isinstance(node, ScalarNode):
        return 1 + len(node.value)
    if isinstance(node, SequenceNode):
        return 1 + sum(sizes[id(item)] for item in node.value)
    if isinstance(node, MappingNode):
        return 1 + sum(sizes[id(key)] + sizes[id(value)] for key, value in node.value)
    return 1


class SafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that counts, while composing, what each node would weigh written out, and refuses a stream
    whose aliases expand it past the budget (before anything is constructed from it). Subclass it as you would
    yaml.SafeLoader."""

    max_depth: int | None = MAX_DEPTH  # None: no limit (Python's recursion limit still applies)

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) → its expanded size, for the current document's nodes
        self._written = 0  # the stream's nodes as written, aliases not followed
        self._expanded = 0  # the same with every alias replaced by its value
        self._biggest: tuple[int, str, Mark | None] = (0, "", None)  # the alias adding the most: size, name, where
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            anchored = self.anchors.get(event.anchor)
            if anchored is not None:  # an undefined one is PyYAML's error
                size = self._sizes.get(id(anchored))
                if size is None:  # still being composed: the alias is inside its own value
                    raise YamlLimitError(
                        problem=f"alias *{event.anchor} is inside the value it names, an endless structure; "
                        "remove the alias",
                        problem_mark=event.start_mark,
                    )
                self._expanded += size
                if size > self._biggest[0]:
                    self._biggest = (size, str(event.anchor), event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self.max_depth is not None and self._depth > self.max_depth:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise YamlLimitError(
                    problem=f"nested more than {self.max_depth} levels deep", problem_mark=event.start_mark
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            size = _size(node, self._sizes)
            self._sizes[id(node)] = size
            own = 1 + len(node.value) if isinstance(node, ScalarNode) else 1
            self._written += own
            self._expanded += own
        return node

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        self._sizes = {}  # aliases cannot reach into the next document
        limit = max(ALIAS_FLOOR, ALIAS_RATIO * self._written)
        if self._expanded > limit:
            size, name, mark = self._biggest
            raise YamlLimitError(
                problem=f"YAML aliases expand the document to {self._expanded:,} characters ({self._written:,} as "
                f"written; at most {limit:,}): {ALIAS_FIX} (*{name} here adds {size:,})",
                problem_mark=mark,
            )
        return node


def _too_deep() -> YamlLimitError:
    return YamlLimitError(problem="nested too deeply")


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, bounded: raises yaml.YAMLError (YamlLimitError past the limits)."""
    loader = SafeLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:  # a caller deep in its own stack; the depth limit normally comes first
        raise _too_deep() from None
    finally:
        loader.dispose()


def safe_load_all(text: str) -> list[Any]:
    """`yaml.safe_load_all`, bounded, as a list: the budget is the whole stream's, so many documents just under
    it do not add up to a bomb."""
    loader = SafeLoader(text)
    try:
        documents = []
        while loader.check_node():  # what check_data does, typed
            documents.append(loader.get_data())
        return documents
    except RecursionError:
        raise _too_deep() from None
    finally:
        loader.dispose()


class _ComposeOnly(SafeLoader):
    max_depth = None  # the loader that reads the text next has its own answer to deep nesting


def check_aliases(text: str) -> None:
    """For text another loader reads (one with its own constructors): raises YamlLimitError if its aliases expand
    past the budget. Other YAML errors are left to that loader, which meets them in the same place. Text without an
    anchor (`&`) is passed at once: it cannot have aliases that resolve."""
    if "&" not in text:
        return
    loader = _ComposeOnly(text)
    try:
        while loader.check_node():
            loader.get_node()
    except YamlLimitError:
        raise
    except (yaml.YAMLError, RecursionError):
        return
    finally:
        loader.dispose()


def describe(err: yaml.YAMLError) -> str:
    """Any YAML error in one line, with its line and column: `line 3, column 7: ...`."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}"
        if isinstance(err, YamlLimitError):
            return f"{at}: {err.problem}"
        during = f" ({err.context})" if err.context else ""
        return f"not valid YAML at {at}: {err.problem}{during}"
    if isinstance(err, yaml.MarkedYAMLError) and err.problem:
        return str(err.problem)
    return " ".join(str(err).split())
