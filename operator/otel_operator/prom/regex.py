"""Prometheus relabel regexes with Go's semantics, executed by RE2.

Prometheus compiles a relabel regex `s` as the Go regexp `^(?s:` + s + `)$` (plain string concatenation, so `a)|(b`
changes the grouping; we concatenate the same way). Go's `regexp/syntax` and C++ RE2 share a design and agree on
almost everything: syntax, leftmost-first submatches, ASCII Perl classes, case folding. Where they differ, this
module follows Go:

- Go rejects `\\C` (any byte) and capture names outside `[A-Za-z0-9_]+`; RE2 accepts both.
- Go 1.25 looks up `\\p{...}` names loosely (case, `_`, `-` and spaces ignored; `Letter` for `L`; `Any`, `ASCII`,
  `Assigned`, `Cn`, `LC`); RE2 knows only the exact category and script names. We resolve names as Go does.
- `\\Q...\\E`, escapes and `{n,m}` are re-emitted in one canonical form so that no RE2 parsing quirk can differ.

Not emulated (documented limits): Go's nesting-depth limit (1000) and its program-size limit differ from RE2's, and
the Unicode tables of Go, RE2 and Python may be different Unicode versions.

Templates (`$1`, `${name}`) follow Go's `Regexp.Expand`. Matching runs on RE2's low-level interface (byte offsets),
which is several times faster than the `re2` module's `re`-compatible wrapper; common Prometheus shapes (a literal,
`prefix(.*)`, `(a|b);true`) are answered without RE2 at all.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, Final

from re2 import _re2  # the binding's core: RE2 objects and Match(anchor, bytes, pos, endpos)

from otel_operator.prom.labels import is_valid_utf8

Groups = tuple[str | None, ...]  # index 0 is the whole match; None for a group that did not participate

_OPTIONS: Final[Any] = _re2.RE2.Options()
_OPTIONS.log_errors = False  # RE2 logs parse errors to stderr by default
_OPTIONS.max_mem = 64 << 20  # Go has no such budget; RE2's default 8 MiB rejects e.g. `\pL{200}`, which Go accepts
_UNANCHORED: Final[Any] = _re2.RE2.Anchor.UNANCHORED

_PREFIX: Final = "^(?s:"
_SUFFIX: Final = ")$"
_MAX_REPEAT: Final = 1000

# RE2's error texts → Go's (regexp/syntax ErrorCode strings), so messages read as Prometheus's do.
_GO_ERRORS: Final = {
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
}
_POSIX_CLASSES: Final = frozenset(
    f"[:{neg}{name}:]"
    for neg in ("", "^")
    for name in (
        "alnum",
        "alpha",
        "ascii",
        "blank",
        "cntrl",
        "digit",
        "graph",
        "lower",
        "print",
        "punct",
        "space",
        "upper",
        "word",
        "xdigit",
    )
)
_C_ESCAPES: Final = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_OCTAL: Final = "01234567"

# Go's unicode.Categories keys RE2 also knows (RE2 lacks Cn and LC, which are resolved to ranges below).
_CATEGORIES: Final = frozenset(
    {"C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl", "No"}
    | {"P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs"}
)
# Unicode's long names for the general categories (Go's unicode.CategoryAliases), by Go's canonical spelling.
_CATEGORY_ALIASES: Final = {
    "Other": "C",
    "Control": "Cc",
    "Cntrl": "Cc",
    "Format": "Cf",
    "Unassigned": "Cn",
    "Privateuse": "Co",
    "Surrogate": "Cs",
    "Letter": "L",
    "Casedletter": "LC",
    "Lowercaseletter": "Ll",
    "Modifierletter": "Lm",
    "Otherletter": "Lo",
    "Titlecaseletter": "Lt",
    "Uppercaseletter": "Lu",
    "Mark": "M",
    "Combiningmark": "M",
    "Spacingmark": "Mc",
    "Enclosingmark": "Me",
    "Nonspacingmark": "Mn",
    "Number": "N",
    "Decimalnumber": "Nd",
    "Digit": "Nd",
    "Letternumber": "Nl",
    "Othernumber": "No",
    "Punctuation": "P",
    "Punct": "P",
    "Connectorpunctuation": "Pc",
    "Dashpunctuation": "Pd",
    "Closepunctuation": "Pe",
    "Finalpunctuation": "Pf",
    "Initialpunctuation": "Pi",
    "Otherpunctuation": "Po",
    "Openpunctuation": "Ps",
    "Symbol": "S",
    "Currencysymbol": "Sc",
    "Modifiersymbol": "Sk",
    "Mathsymbol": "Sm",
    "Othersymbol": "So",
    "Separator": "Z",
    "Lineseparator": "Zl",
    "Paragraphseparator": "Zp",
    "Spaceseparator": "Zs",
}


class RegexError(ValueError):
    """The text is not a regular expression Go's `regexp.Compile` accepts (message in Go's words)."""

    def __init__(self, code: str, expr: str) -> None:
        expr = expr.encode("utf-8", "backslashreplace").decode("utf-8")  # printable even with lone surrogates
        super().__init__(f"error parsing regexp: {code}: `{expr}`")
        self.code = code
        self.expr = expr


class Template:
    """A `$`-template (`target_label`, `replacement`) compiled against one regex, expanded as Go's
    `Regexp.ExpandString`: `$$` is `$`; `$name`/`${name}` take the longest run of letters, digits and `_` (so `$1x`
    is the group named `1x`); an all-digit name without a leading zero is a group number; unknown or
    non-participating groups expand to nothing; a malformed reference (`$`, `${`, `${1`, `$-`) stays literal."""

    __slots__ = ("_const", "_parts", "text")

    def __init__(self, text: str, names: Sequence[str | None]) -> None:
        self.text = text
        parts: list[str | int | tuple[int, ...]] = []
        literal: list[str] = []
        i, n = 0, len(text)
        while i < n:
            k = text.find("$", i)
            if k < 0:
                literal.append(text[i:])
                break
            literal.append(text[i:k])
            i = k + 1
            if i < n and text[i] == "$":
                literal.append("$")
                i += 1
                continue
            ref = _extract_ref(text, i)
            if ref is None:
                literal.append("$")  # malformed: the `$` is kept and scanning resumes right after it
                continue
            name, num, i = ref
            if literal:
                parts.append("".join(literal))
                literal = []
            if num >= 0:
                if num < len(names):
                    parts.append(num)
            else:
                candidates = tuple(idx for idx, group_name in enumerate(names) if group_name == name)
                if candidates:
                    parts.append(candidates)
        if literal:
            parts.append("".join(literal))
        self._parts = tuple(p for p in parts if p != "")
        self._const: str | None = None
        if all(isinstance(p, str) for p in self._parts):
            self._const = "".join(p for p in self._parts if isinstance(p, str))

    @property
    def references(self) -> frozenset[int]:
        """The group indices the template can expand (for a name: every group of that name)."""
        refs: set[int] = set()
        for part in self._parts:
            if isinstance(part, int):
                refs.add(part)
            elif isinstance(part, tuple):
                refs.update(part)
        return frozenset(refs)

    @property
    def single_group(self) -> int | None:
        """The group number when the template is exactly one numbered reference (`$1`, `${1}`)."""
        if len(self._parts) == 1 and isinstance(self._parts[0], int):
            return self._parts[0]
        return None

    @property
    def constant(self) -> str | None:
        """The expansion when the template references no group (it is then the same for every match)."""
        return self._const

    def expand(self, groups: Groups) -> str:
        if self._const is not None:
            return self._const
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, int):
                value = groups[part]
                if value:
                    out.append(value)
            else:
                for idx in part:  # a name: the first group of that name that participated
                    value = groups[idx]
                    if value is not None:
                        out.append(value)
                        break
        return "".join(out)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"


def _extract_ref(text: str, i: int) -> tuple[str, int, int] | None:
    """Go's `extract`: the reference after a `$` at `text[i:]` → (name, number or -1, end), None if malformed."""
    n = len(text)
    brace = i < n and text[i] == "{"
    j = start = i + 1 if brace else i
    while j < n and (text[j].isalpha() or text[j].isdecimal() or text[j] == "_"):
        j += 1  # unicode.IsLetter / unicode.IsDigit (categories L* and Nd) or '_'
    if j == start:
        return None
    name = text[start:j]
    if brace:
        if j >= n or text[j] != "}":
            return None
        j += 1
    num = 0
    for ch in name:
        if not "0" <= ch <= "9" or num >= 100_000_000:
            num = -1
            break
        num = num * 10 + ord(ch) - 48
    if name[0] == "0" and len(name) > 1:
        num = -1
    return name, num, j


# --- Go syntax → RE2 syntax -------------------------------------------------------------------------------


def _lit(rune: int) -> str:
    return f"\\x{{{rune:x}}}"


def _is_ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _unhex(c: str) -> int:
    if "0" <= c <= "9":
        return ord(c) - 48
    if "a" <= c <= "f":
        return ord(c) - 87
    if "A" <= c <= "F":
        return ord(c) - 55
    return -1


def _parse_escape(p: str, i: int) -> tuple[int, int]:
    """Go's `parseEscape` for the backslash at `p[i]`: (rune, index after the escape)."""
    n = len(p)
    j = i + 1
    if j >= n:
        raise RegexError("trailing backslash at end of expression", "")
    c = p[j]
    j += 1
    if c.isascii() and not c.isalnum():
        return ord(c), j  # escaped punctuation (including `\_`) is itself
    if c in "1234567" and (j >= n or p[j] not in _OCTAL):
        raise RegexError("invalid escape sequence", p[i:j])  # a backreference: not supported
    if c in _OCTAL:
        rune = ord(c) - 48
        for _ in range(2):
            if j < n and p[j] in _OCTAL:
                rune = rune * 8 + ord(p[j]) - 48
                j += 1
        return rune, j
    if c == "x" and j < n:
        c2 = p[j]
        j += 1
        if c2 == "{":
            rune, digits = 0, 0
            while j < n:
                d = p[j]
                j += 1
                if d == "}":
                    if digits:
                        return rune, j
                    break
                v = _unhex(d)
                rune = rune * 16 + v
                if v < 0 or rune > 0x10FFFF:
                    break
                digits += 1
            raise RegexError("invalid escape sequence", p[i:j])
        hi = _unhex(c2)
        lo = -1
        if j < n:
            lo = _unhex(p[j])
            j += 1
        if hi >= 0 and lo >= 0:
            return hi * 16 + lo, j
        raise RegexError("invalid escape sequence", p[i:j])
    if c in _C_ESCAPES:
        return _C_ESCAPES[c], j
    raise RegexError("invalid escape sequence", p[i:j])


def _go_canonical(name: str) -> str:
    """Go 1.25's `canonicalName` for `\\p{...}`: drop `_`, `-` and spaces, upper-case the first letter only."""
    out: list[str] = []
    first = True
    for c in name:
        if c in "_- ":
            continue
        if first:
            out.append(c.upper() if "a" <= c <= "z" else c)
            first = False
        else:
            out.append(c.lower() if "A" <= c <= "Z" else c)
    return "".join(out)


@functools.cache
def _re2_knows_property(name: str) -> bool:
    if not name or any(c in name for c in "{}\\"):
        return False
    return bool(_re2.RE2(f"\\p{{{name}}}".encode(), _OPTIONS).ok())


@functools.cache
def _category_ranges(categories: frozenset[str]) -> tuple[tuple[int, int], ...]:
    """Code-point ranges of the given general categories, from Python's Unicode tables (for the names RE2 lacks)."""
    ranges: list[tuple[int, int]] = []
    category = unicodedata.category
    start = -1
    for cp in range(0x110000):
        inside = category(chr(cp)) in categories
        if inside and start < 0:
            start = cp
        elif not inside and start >= 0:
            ranges.append((start, cp - 1))
            start = -1
    if start >= 0:
        ranges.append((start, 0x10FFFF))
    return tuple(ranges)


def _complement(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    next_lo = 0
    for lo, hi in ranges:
        if next_lo <= lo - 1:
            out.append((next_lo, lo - 1))
        next_lo = hi + 1
    if next_lo <= 0x10FFFF:
        out.append((next_lo, 0x10FFFF))
    return out


UnicodeClass = tuple[tuple[str, ...], tuple[tuple[int, int], ...], int]  # RE2 properties, or else ranges; sign
_FIXED_CLASSES: Final[dict[str, UnicodeClass]] = {
    "Any": (("Any",), (), 1),
    "ASCII": ((), ((0, 0x7F),), 1),
    "LC": (("Lu", "Ll", "Lt"), (), 1),
}
_SPECIAL_NAMES: Final = {"Any": "Any", "Ascii": "ASCII", "Assigned": "Assigned", "Lc": "LC", "Cn": "Cn"}


def _resolve_unicode_name(name: str) -> UnicodeClass | None:
    """Go 1.25's `unicodeTable`: special names, then categories, then scripts, then category aliases."""
    canon = _go_canonical(name)
    key = _SPECIAL_NAMES.get(canon) or (canon if canon in _CATEGORIES else None)
    if key is None and not _re2_knows_property(canon):
        key = _CATEGORY_ALIASES.get(canon)
    if key is None:
        # A script. Single-word script names are already canonical; exact multi-word names (Old_Italic) are what
        # Go looked up before 1.25, so accept those too.
        for candidate in (canon, name):
            if _re2_knows_property(candidate):
                return (candidate,), (), 1
        return None
    if key in _FIXED_CLASSES:
        return _FIXED_CLASSES[key]
    if key in ("Cn", "Assigned"):  # RE2 has no Cn table: spell it out; Assigned is its complement
        return (), _category_ranges(frozenset({"Cn"})), 1 if key == "Cn" else -1
    return (key,), (), 1


def _unicode_class(p: str, i: int, out: list[str], in_class: bool) -> int:
    """`\\pN`, `\\p{Name}`, `\\P{^Name}` at `p[i]` → RE2 text appended to `out`; returns the index after it."""
    sign = -1 if p[i + 1] == "P" else 1
    j = i + 2
    if j < len(p) and p[j] == "{":
        end = p.find("}", i)
        if end < 0:
            raise RegexError("invalid character class range", p[i:])
        name, j = p[j + 1 : end], end + 1
    elif j < len(p):
        name, j = p[j], j + 1
    else:
        name = ""
    seq = p[i:j]
    if name.startswith("^"):
        sign, name = -sign, name[1:]
    resolved = _resolve_unicode_name(name)
    if resolved is None:
        raise RegexError("invalid character class range", seq)
    props, ranges, table_sign = resolved
    sign *= table_sign
    if len(props) == 1:
        out.append(f"\\{'p' if sign > 0 else 'P'}{{{props[0]}}}")
        return j
    negated = False
    if props and (sign > 0 or not in_class):
        body = "".join(f"\\p{{{prop}}}" for prop in props)
        negated = sign < 0
    else:  # RE2 lacks the table, or a negated union must go inside a class: spell the code points out
        if props:
            ranges = _category_ranges(frozenset(props))
        body = "".join(f"{_lit(lo)}-{_lit(hi)}" for lo, hi in (ranges if sign > 0 else _complement(ranges)))
    if in_class:
        out.append(body)
    else:
        out.append(f"[{'^' if negated else ''}{body}]" if body else "[^\\x00-\\x{10ffff}]")
    return j


def _class_char(p: str, j: int, start: int) -> tuple[int, int]:
    if j >= len(p):
        raise RegexError("missing closing ]", p[start:])
    if p[j] == "\\":
        return _parse_escape(p, j)
    return ord(p[j]), j + 1


def _char_class(p: str, i: int, out: list[str]) -> int:
    """Go's `parseClass` for the `[` at `p[i]`: validates and appends a canonical RE2 class."""
    n = len(p)
    j = i + 1
    out.append("[")
    if j < n and p[j] == "^":
        out.append("^")
        j += 1
    first = True  # `]` right after `[` or `[^` is a literal
    while j >= n or p[j] != "]" or first:
        if j >= n:
            raise RegexError("missing closing ]", p[i:])
        first = False
        if p.startswith("[:", j) and n - j > 2:
            k = p.find(":]", j + 2)
            if k >= 0:
                name = p[j : k + 2]
                if name not in _POSIX_CLASSES:
                    raise RegexError("invalid character class range", name)
                out.append(name)
                j = k + 2
                continue
        if p[j] == "\\" and j + 1 < n and p[j + 1] in "pP":
            j = _unicode_class(p, j, out, in_class=True)
            continue
        if p[j] == "\\" and j + 1 < n and p[j + 1] in "dDsSwW":
            out.append(p[j : j + 2])
            j += 2
            continue
        rng = j
        lo, j = _class_char(p, j, i)
        hi = lo
        if j + 1 < n and p[j] == "-" and p[j + 1] != "]":
            hi, j = _class_char(p, j + 1, i)
            if hi < lo:
                raise RegexError("invalid character class range", p[rng:j])
        out.append(_lit(lo) if lo == hi else f"{_lit(lo)}-{_lit(hi)}")
    out.append("]")
    return j + 1


def _parse_int(p: str, j: int) -> tuple[int, int] | None:
    """Go's `parseInt` inside `{n,m}`: digits without a leading zero; -1 for a number too large to be a count."""
    k = j
    while k < len(p) and "0" <= p[k] <= "9":
        k += 1
    if k == j or (k - j >= 2 and p[j] == "0"):
        return None
    value = 0
    for ch in p[j:k]:
        if value >= 100_000_000:
            return -1, k
        value = value * 10 + ord(ch) - 48
    return value, k


def _repeat(p: str, i: int) -> tuple[int, int, int] | None:
    """Go's `parseRepeat` for the `{` at `p[i]`: (min, max or -1 for none, end), None if `{` is a literal."""
    first = _parse_int(p, i + 1)
    if first is None:
        return None
    lo, j = first
    if j >= len(p):
        return None
    if p[j] != ",":
        hi = lo
    else:
        j += 1
        if j >= len(p):
            return None
        if p[j] == "}":
            hi = -1
        else:
            second = _parse_int(p, j)
            if second is None:
                return None
            hi, j = second
            if hi < 0:
                lo = -1
    if j >= len(p) or p[j] != "}":
        return None
    return lo, hi, j + 1


def _perl_group(p: str, i: int, out: list[str], names: list[str | None]) -> int:
    """`(?P<name>`, `(?<name>` or a flag group `(?i)`/`(?s-m:` at `p[i]`, as Go's `parsePerlFlags`."""
    n = len(p)
    named_p = n - i > 4 and p[i + 2] == "P" and p[i + 3] == "<"
    if named_p or (n - i > 3 and p[i + 2] == "<"):
        end = p.find(">", i)
        if end < 0:
            raise RegexError("invalid named capture", p[i:])
        name = p[i + (4 if named_p else 3) : end]
        if not name or not all(c == "_" or _is_ascii_alnum(c) for c in name):
            raise RegexError("invalid named capture", p[i : end + 1])
        names.append(name)
        out.append("(")  # RE2 gets an unnamed group; names are resolved here (Go allows duplicates)
        return end + 1
    j = i + 2
    negated = saw_flag = False
    while j < n:
        c = p[j]
        j += 1
        if c in "imsU":
            saw_flag = True
        elif c == "-" and not negated:
            negated, saw_flag = True, False
        elif c in ":)" and not (negated and not saw_flag):
            out.append(p[i:j])  # RE2 reads flag groups exactly as Go does
            return j
        else:
            break
    raise RegexError("invalid or unsupported Perl syntax", p[i:j])


def translate(pattern: str) -> tuple[str, tuple[str | None, ...]]:
    """Check a full Go regexp against the rules where Go and RE2 differ and rewrite it in RE2 syntax with the same
    meaning. Returns the RE2 text and the capture-group names by index (index 0, the whole match, has none)."""
    if not is_valid_utf8(pattern):
        raise RegexError("invalid UTF-8", pattern)
    out: list[str] = []
    names: list[str | None] = [None]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1] if i + 1 < n else ""
            if nxt and nxt in "AbBz":
                out.append(pattern[i : i + 2])
                i += 2
            elif nxt == "C":
                raise RegexError("invalid escape sequence", "\\C")
            elif nxt == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.extend(_lit(ord(ch)) for ch in literal)
                i = n if end < 0 else end + 2
            elif nxt and nxt in "pP":
                i = _unicode_class(pattern, i, out, in_class=False)
            elif nxt and nxt in "dDsSwW":
                out.append(pattern[i : i + 2])
                i += 2
            else:
                rune, i = _parse_escape(pattern, i)
                out.append(_lit(rune))
        elif c == "[":
            i = _char_class(pattern, i, out)
        elif c == "(":
            if pattern.startswith("(?", i):
                i = _perl_group(pattern, i, out, names)
            else:
                names.append(None)
                out.append("(")
                i += 1
        elif c == "{":
            rep = _repeat(pattern, i)
            if rep is None:
                out.append("\\{")  # not a valid repeat: a literal brace, as in Go
                i += 1
            else:
                lo, hi, end = rep
                if lo < 0 or lo > _MAX_REPEAT or hi > _MAX_REPEAT or (hi >= 0 and lo > hi):
                    raise RegexError("invalid repeat count", pattern[i:end])
                out.append(f"{{{lo}}}" if lo == hi else f"{{{lo},}}" if hi < 0 else f"{{{lo},{hi}}}")
                i = end
        else:
            out.append(c)
            i += 1
    return "".join(out), tuple(names)


def _compile_re2(text: str) -> Any:
    prog = _re2.RE2(text.encode(), _OPTIONS)
    if not prog.ok():
        message = prog.error()
        message = message.decode() if isinstance(message, bytes) else str(message)
        code, _, expr = message.partition(": ")
        raise RegexError(_GO_ERRORS.get(code, code), expr)
    return prog


# --- Shapes answered without RE2 ---------------------------------------------------------------------------

_LITERAL: Final = 1  # `abc`: equal to the text
_WILDCARD: Final = 2  # `P(.*)S`, `P.+S`: prefix and suffix, something (or anything) between
_ALTERNATIVES: Final = 3  # `P(a|b)S` or `a|b`: prefix and suffix around one of a set of strings
_SKELETON_WILDCARD: Final = re.compile(r"(L*)(\(\.[*+]\)|\.[*+])(L*)")
_SKELETON_GROUP_ALTS: Final = re.compile(r"(L*)\((L*(?:\|L*)*)\)(L*)")
_SKELETON_ALTS: Final = re.compile(r"L*(?:\|L*)+")


def _shape(source: str) -> tuple[int, str, str, frozenset[str], int] | None:
    """Recognise the user text of a few common shapes: (kind, prefix, suffix, alternatives, minimum middle length).
    Only literal characters (or escaped ASCII punctuation) and exactly the shapes above qualify."""
    chars: list[str] = []
    skeleton: list[str] = []  # "L" per literal character, the character itself for a metacharacter
    i = 0
    while i < len(source):
        c = source[i]
        if c == "\\":
            nxt = source[i + 1] if i + 1 < len(source) else ""
            if not nxt or not nxt.isascii() or nxt.isalnum():
                return None
            chars.append(nxt)
            skeleton.append("L")
            i += 2
            continue
        chars.append(c)
        skeleton.append(c if c in ".*+?()|[]{}^$" else "L")
        i += 1
    sk = "".join(skeleton)

    def text(a: int, b: int) -> str:
        return "".join(chars[a:b])

    def alternatives(a: int, b: int) -> frozenset[str]:
        cuts = [a - 1, *(k for k in range(a, b) if sk[k] == "|"), b]
        return frozenset(text(x + 1, y) for x, y in itertools.pairwise(cuts))

    if sk.count("L") == len(sk):
        return _LITERAL, text(0, len(sk)), "", frozenset(), 0
    m = _SKELETON_WILDCARD.fullmatch(sk)
    if m:
        return _WILDCARD, text(0, m.end(1)), text(m.start(3), len(sk)), frozenset(), 1 if "+" in m.group(2) else 0
    m = _SKELETON_GROUP_ALTS.fullmatch(sk)
    if m:
        return _ALTERNATIVES, text(0, m.end(1)), text(m.start(3), len(sk)), alternatives(m.start(2), m.end(2)), 0
    if _SKELETON_ALTS.fullmatch(sk):
        return _ALTERNATIVES, "", "", alternatives(0, len(sk)), 0
    return None


class Regex:
    """A Prometheus relabel regex: the user's text, compiled anchored as Prometheus v3 does.

    `match` is Go's `MatchString`, `find` is `FindStringSubmatch` (groups by index, None for a group that did not
    participate), `replace_all` is `ReplaceAllString` with a `$`-template.
    """

    __slots__ = (
        "_alts",
        "_kind",
        "_min",
        "_n_suffix",
        "_prefix",
        "_prog",
        "_suffix",
        "group_count",
        "match",
        "names",
        "source",
    )
    match: Callable[[str], bool]  # Go's MatchString, specialised per shape (a C-level call where possible)

    def __init__(self, source: str, *, shortcuts: bool = True) -> None:
        """`shortcuts=False` always runs RE2 (the common shapes are otherwise answered by string comparisons)."""
        self.source = source
        translated, names = translate(_PREFIX + source + _SUFFIX)
        self._prog = _compile_re2(translated)
        self.names = names
        self.group_count = len(names) - 1
        if self._prog.NumberOfCapturingGroups() != self.group_count:
            raise RegexError("regexp/syntax: internal error", source)  # our scan and RE2 disagree: refuse
        shape = _shape(source) if shortcuts else None
        self._kind = 0
        self._prefix = self._suffix = ""
        self._n_suffix = self._min = 0
        self._alts: frozenset[str] = frozenset()
        if shape is not None:
            kind, self._prefix, self._suffix, self._alts, self._min = shape
            self._n_suffix = len(self._suffix)
            self._kind = kind
        self.match = self._matcher()

    def _matcher(self) -> Callable[[str], bool]:
        kind, prefix, suffix = self._kind, self._prefix, self._suffix
        if kind == _LITERAL:
            return prefix.__eq__
        if kind == _ALTERNATIVES and not prefix and not suffix:
            return self._alts.__contains__
        if kind == _WILDCARD and not prefix and not suffix:
            return bool if self._min else _always  # `.+`: any non-empty text; `.*`: anything
        if kind:
            return lambda text: self._middle(text) is not None
        prog = self._prog

        def run_re2(text: str) -> bool:
            data = text.encode("utf-8", "surrogatepass")
            return bool(prog.Match(_UNANCHORED, data, 0, len(data))[0][0] >= 0)

        return run_re2

    def template(self, text: str) -> Template:
        return Template(text, self.names)

    @property
    def literal(self) -> str | None:
        """The one text the regex matches, when it is a plain literal."""
        return self._prefix if self._kind == _LITERAL else None

    @property
    def matches_anything(self) -> bool:
        """Whether every text matches (`.*`, `(.*)`)."""
        return self._kind == _WILDCARD and not self._prefix and not self._suffix and self._min == 0

    def is_injective(self, template: Template) -> bool:
        """Whether `replace_all` maps different matching texts to different results (provably; False when
        unknown). Then the order in which `labelmap` visits label names cannot change its outcome."""
        refs = template.references
        if self._kind == _LITERAL:
            return True  # only one text matches
        if self._kind in (_WILDCARD, _ALTERNATIVES):
            # prefix + middle + suffix: the middle, or the whole text, determines the text
            return 0 in refs or (self.group_count == 1 and 1 in refs)
        return False

    def _middle(self, text: str) -> str | None:
        """For the simple shapes: the part between prefix and suffix when the text matches, else None."""
        if not text.startswith(self._prefix) or not text.endswith(self._suffix):
            return None
        end = len(text) - self._n_suffix
        start = len(self._prefix)
        if end - start < self._min:
            return None
        middle = text[start:end]
        if self._kind == _ALTERNATIVES and middle not in self._alts:
            return None
        return middle

    def find(self, text: str) -> Groups | None:
        kind = self._kind
        if kind:
            if kind == _LITERAL:
                return (text,) if text == self._prefix else None
            middle = self._middle(text)
            if middle is None:
                return None
            return (text, middle) if self.group_count else (text,)
        data = text.encode("utf-8", "surrogatepass")
        spans = self._prog.Match(_UNANCHORED, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        if len(data) == len(text):  # ASCII: byte offsets are character offsets
            return tuple(None if s < 0 else text[s:e] for s, e in spans)
        return tuple(None if s < 0 else data[s:e].decode("utf-8", "surrogatepass") for s, e in spans)

    def replace_all(self, text: str, template: Template) -> str:
        """Go's `ReplaceAllString`: every non-overlapping match replaced by the expanded template."""
        if self._kind:
            groups = self.find(text)  # anchored at both ends: at most one match, the whole text
            return text if groups is None else template.expand(groups)
        data = text.encode("utf-8", "surrogatepass")
        end = len(data)
        out: list[bytes] = []
        last = pos = 0
        while pos <= end:
            spans = self._prog.Match(_UNANCHORED, data, pos, end)
            a0, a1 = spans[0]
            if a0 < 0:
                break
            out.append(data[last:a0])
            if a1 > last or a0 == 0:  # no replacement for an empty match right after the previous match
                groups = tuple(None if s < 0 else data[s:e].decode("utf-8", "surrogatepass") for s, e in spans)
                out.append(template.expand(groups).encode("utf-8", "surrogatepass"))
            last = a1
            width = _utf8_width(data, pos)
            if pos + width > a1:
                pos += width
            elif pos + 1 > a1:
                pos += 1
            else:
                pos = a1
        out.append(data[last:])
        return b"".join(out).decode("utf-8", "surrogatepass")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regex) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Regex({self.source!r})"


def _always(text: str) -> bool:
    return True


def _utf8_width(data: bytes, pos: int) -> int:
    if pos >= len(data):
        return 0
    lead = data[pos]
    if lead < 0x80:
        return 1
    if lead >= 0xF0:
        return 4
    if lead >= 0xE0:
        return 3
    return 2


@functools.lru_cache(maxsize=4096)
def compile_regex(source: str) -> Regex:
    """A compiled relabel regex (cached: monitors repeat the same few regexes many times)."""
    return Regex(source)
