"""Relabel regexes: Go's syntax (what Prometheus accepts and refuses), Go's matching, Go's `$`-expansion."""

from __future__ import annotations

import random

import pytest

from otel_operator.prom.regex import Regex, RegexError, compile_regex, translate

# (case name, regex as written in relabel_configs); every one compiles in Go as "^(?s:" + regex + ")$".
ACCEPTED = [
    ("empty regex", ""),
    ("default regex", "(.*)"),
    ("concatenated anchors let an alternation escape the group", "a)|(b"),
    ("end of text \\z", r"a\z"),
    ("begin of text \\A", r"\Aa"),
    ("ASCII word boundaries", r"\ba\B"),
    ("octal escape of two digits", r"\12"),
    ("octal escape of one zero", r"\0"),
    ("octal escape of three digits", r"\101"),
    ("hex escape", r"\x41"),
    ("braced hex escape", r"\x{1F600}"),
    ("largest code point", r"\x{10FFFF}"),
    ("escaped underscore", r"\_"),
    ("escaped punctuation and space", r"\-\ \.\;\#"),
    ("Python-style named group", "(?P<name>x)"),
    ("angle-bracket named group (Go 1.22+)", "(?<name>x)"),
    ("digit-only group name", "(?P<1>x)"),
    ("duplicate group names", "(?P<a>x)(?P<a>y)"),
    ("underscore group name", "(?P<_>x)"),
    ("flags at the start", "(?i)a"),
    ("flags in the middle", "a(?i)b"),
    ("flag group", "(?i:a)"),
    ("negated flag", "(?-s:.)"),
    ("ungreedy flag", "(?U)a+"),
    ("several flags and a negation", "(?im-s:a)"),
    ("empty flag group", "(?)"),
    ("{,n} is a literal", "a{,3}"),
    ("lone brace is a literal", "a{"),
    ("unfinished repeat is a literal", "a{1"),
    ("leading zero makes a literal", "a{01}"),
    ("lone closing brace", "}"),
    ("exact repeat", "a{2}"),
    ("open repeat", "a{2,}"),
    ("bounded repeat", "a{2,5}"),
    ("repeat of 1000", "a{1000}"),
    ("repeat of zero", "a{0}"),
    ("non-greedy repeats", "a*?b+?c??d{2}?"),
    ("repeating an empty-width assertion", "^*"),
    ("one-letter Unicode class", r"\pL"),
    ("braced Unicode category", r"\p{Lu}"),
    ("Unicode script", r"\p{Greek}"),
    ("negated Unicode class", r"\PL"),
    ("caret-negated Unicode class", r"\p{^Greek}"),
    ("Go 1.25: case-insensitive script name", r"\p{greek}"),
    ("Go 1.25: long category name", r"\p{Letter}"),
    ("Go 1.25: spaced category alias", r"\p{Uppercase Letter}"),
    ("Go 1.25: ASCII", r"\p{ASCII}"),
    ("Go 1.25: Assigned", r"\p{Assigned}"),
    ("Go 1.25: Cn", r"\p{Cn}"),
    ("Go 1.25: LC", r"\p{LC}"),
    ("Any", r"\p{Any}"),
    ("Unicode classes inside a bracket", r"[\pL\p{Nd}_]"),
    ("negated LC inside a bracket", r"[\P{LC}]"),
    ("POSIX class", "[[:alpha:]]"),
    ("negated POSIX class", "[[:^digit:]]"),
    ("POSIX word class", "[[:word:]]"),
    ("] first in a class is a literal", "[]a]"),
    ("] first in a negated class is a literal", "[^]a]"),
    ("- last in a class", "[a-]"),
    ("- first in a class", "[-a]"),
    ("Perl class then -", r"[\d-z]"),
    ("escaped ] in a class", r"[\]]"),
    ("[ in a class is a literal", "[[]"),
    ("&& is not an operator", "[a-z&&[^b]]"),
    ("quoted metacharacters", r"\Q*+?\E"),
    ("a large Unicode repeat (over RE2's default memory budget)", r"\pL{200}"),
    ("Unicode case folding", "(?i)ǅ"),
]

# (case name, regex, Go's error code)
REJECTED = [
    ("any byte \\C", r"\C", "invalid escape sequence"),
    ("Python's end of text \\Z", r"a\Z", "invalid escape sequence"),
    ("lookahead", "(?=a)", "invalid or unsupported Perl syntax"),
    ("negative lookahead", "(?!a)", "invalid or unsupported Perl syntax"),
    ("lookbehind", "(?<=a)b", "invalid named capture"),
    ("negative lookbehind", "(?<!a)b", "invalid named capture"),
    ("atomic group", "(?>a)", "invalid or unsupported Perl syntax"),
    ("possessive quantifier", "a++", "invalid nested repetition operator"),
    ("doubled star", "a**", "invalid nested repetition operator"),
    ("star after plus", "a+*", "invalid nested repetition operator"),
    ("repeat of a repeat", "x{2}{3}", "invalid nested repetition operator"),
    ("star after a repeat", "a{2}*", "invalid nested repetition operator"),
    ("non-greedy then another ?", "x{2}??", "invalid nested repetition operator"),
    ("backreference", r"(a)\1", "invalid escape sequence"),
    ("backreference 7", r"\7", "invalid escape sequence"),
    ("\\8 is neither octal nor anything", r"\8", "invalid escape sequence"),
    ("repeat over 1000", "a{1001}", "invalid repeat count"),
    ("repeat min over max", "a{2,1}", "invalid repeat count"),
    ("nested repeats over 1000 copies", "(?:a{2}){501}", "invalid repeat count"),
    ("repeat with nothing before it", "*a", "missing argument to repetition operator"),
    ("repeat after (", "(*a)", "missing argument to repetition operator"),
    ("repeat after |", "a|*", "missing argument to repetition operator"),
    ("repeat after a flag group", "(?i)*", "missing argument to repetition operator"),
    ("unclosed group", "(", "missing closing )"),
    ("unclosed non-capturing group", "(?:a", "missing closing )"),
    ("trailing backslash escapes the anchoring )", "a\\", "missing closing )"),
    ("unterminated \\Q swallows the anchoring )", r"\Qab", "missing closing )"),
    ("extra )", "a)", "unexpected )"),
    ("unclosed class", "[a", "missing closing ]"),
    ("empty class", "[]", "missing closing ]"),
    ("reversed range", "[z-a]", "invalid character class range"),
    ("unknown POSIX class", "[[:foo:]]", "invalid character class range"),
    ("unknown Unicode class", r"\p{Foo}", "invalid character class range"),
    ("empty Unicode class name", r"\p{}", "invalid character class range"),
    ("unclosed Unicode class name", r"\p{Greek", "invalid character class range"),
    ("Unicode 16 script unknown to Go 1.25", r"\p{Garay}", "invalid character class range"),
    ("non-ASCII group name", "(?P<é>a)", "invalid named capture"),
    ("empty group name", "(?P<>a)", "invalid named capture"),
    ("dash in a group name", "(?P<a-b>x)", "invalid named capture"),
    ("unclosed group name", "(?P<name", "invalid named capture"),
    ("Python named backreference", "(?P<n>a)(?P=n)", "invalid or unsupported Perl syntax"),
    ("code point too large", r"\x{110000}", "invalid escape sequence"),
    ("one hex digit", r"\x4", "invalid escape sequence"),
    ("non-hex digits", r"\xZZ", "invalid escape sequence"),
    ("escaped non-ASCII letter", r"\é", "invalid escape sequence"),
    ("escape character \\e", r"\e", "invalid escape sequence"),
    ("Python \\u escape", r"\u0041", "invalid escape sequence"),
    ("named character", r"\N{DIGIT ONE}", "invalid escape sequence"),
    ("control escape", r"\cA", "invalid escape sequence"),
    ("horizontal space class", r"\h", "invalid escape sequence"),
    ("verbose flag", "(?x)a", "invalid or unsupported Perl syntax"),
    ("comment group", "(?#c)", "invalid or unsupported Perl syntax"),
    ("negation without a flag", "(?i-)", "invalid or unsupported Perl syntax"),
    ("bare negation", "(?-)", "invalid or unsupported Perl syntax"),
    ("backspace escape in a class", r"[\b]", "invalid escape sequence"),
    ("\\Q inside a class", r"[\Q]\E]", "invalid escape sequence"),
    ("lone surrogate (not UTF-8)", "\ud800", "invalid UTF-8"),
]


@pytest.mark.parametrize(("case", "regex"), ACCEPTED, ids=[c for c, _ in ACCEPTED])
def test_go_accepts(case: str, regex: str) -> None:
    Regex(regex)


@pytest.mark.parametrize(("case", "regex", "code"), REJECTED, ids=[c for c, _, _ in REJECTED])
def test_go_rejects(case: str, regex: str, code: str) -> None:
    with pytest.raises(RegexError) as info:
        Regex(regex)
    assert info.value.code == code
    assert str(info.value).startswith(f"error parsing regexp: {code}: `")


# (case name, regex, text, expected groups or None when there is no match)
MATCHES: list[tuple[str, str, str, tuple[str | None, ...] | None]] = [
    ("anchored at the start", "a", "ba", None),
    ("anchored at the end", "a", "ab", None),
    ("whole text", "a", "a", ("a",)),
    ("empty regex matches only the empty string", "", "", ("",)),
    ("empty regex refuses text", "", "x", None),
    ("v3: dot matches a newline", "(.*)", "a\nb", ("a\nb", "a\nb")),
    ("$ is the end of text, not before a final newline", "foo", "foo\n", None),
    ("an explicit $ is the end of text too", "foo$", "foo\n", None),
    ("(?m)$ matches before a newline but the anchor still needs the end", "(?m)foo$", "foo\n", None),
    ("(?m)^ after a newline", "a\n(?m)^b", "a\nb", ("a\nb",)),
    ("\\d is ASCII", r"\d", "٣", None),
    ("\\d matches ASCII digits", r"\d", "3", ("3",)),
    ("\\w is ASCII", r"\w", "é", None),
    ("\\s has no vertical tab", r"\s", "\x0b", None),
    ("\\s has tab", r"\s", "\t", ("\t",)),
    ("\\b is an ASCII word boundary", "é\\b", "é", None),
    ("POSIX classes are ASCII", "[[:alpha:]]", "é", None),
    ("\\pL is Unicode", r"\pL", "é", ("é",)),
    ("Go 1.25 \\p{ASCII}", r"\p{ASCII}+", "ab~", ("ab~",)),
    ("Go 1.25 \\p{LC} excludes other letters", r"\p{LC}", "ª", None),
    ("Go 1.25 \\p{LC} has titlecase letters", r"\p{LC}", "ǅ", ("ǅ",)),
    ("negated LC inside a class", r"[^\p{LC}]", "1", ("1",)),
    ("Go 1.25 \\p{Cn} (unassigned)", r"\p{Cn}", "\U000e0fff", ("\U000e0fff",)),
    ("Go 1.25 \\P{Assigned}", r"\P{Assigned}", "a", None),
    ("case folding: Kelvin sign", "(?i)k", "\u212a", ("\u212a",)),
    ("case folding: long s", "(?i)ſ", "S", ("S",)),
    ("case folding is simple, not full", "(?i)straße", "STRASSE", None),
    ("negated class matches a newline", "[^a]", "\n", ("\n",)),
    ("octal \\12 is a newline", r"\12", "\n", ("\n",)),
    ("{,n} is literal text", "a{,3}", "a{,3}", ("a{,3}",)),
    ("{,n} is not a repeat", "a{,3}", "aa", None),
    ("\\Q..\\E quotes", r"\Q.*\E", ".*", (".*",)),
    ("\\Q..\\E is not a wildcard", r"\Q.*\E", "ab", None),
    ("leftmost-first alternation", "(a|ab)(c|bcd)(d*)", "abcd", ("abcd", "a", "bcd", "")),
    ("last iteration of a repeated group", "(a|b)*", "ab", ("ab", "b")),
    ("non-greedy capture", "(a+?)(a*)", "aaa", ("aaa", "a", "aa")),
    ("ungreedy flag swaps greediness", "(?U)(a+)(a*)", "aaa", ("aaa", "a", "aa")),
    ("non-participating group", "(?P<x>a)(?P<y>b)?", "a", ("a", "a", None)),
    ("escaped alternation: prefix branch", "a)|(b", "ax", ("a", None)),
    ("escaped alternation: suffix branch", "a)|(b", "xb", ("b", "b")),
    ("escaped alternation: neither", "a)|(b", "x", None),
    ("literal with escaped dot", r"10\.0\.0\.1", "10.0.0.1", ("10.0.0.1",)),
    ("literal with escaped dot refuses other characters", r"10\.0", "10x0", None),
    ("prefix wildcard", "Node;(.*)", "Node;n1", ("Node;n1", "n1")),
    ("prefix wildcard, empty rest", "Node;(.*)", "Node;", ("Node;", "")),
    ("plus wildcard needs one character", "__meta_(.+)", "__meta_", None),
    ("alternatives with suffix", "(beta|gamma);true", "gamma;true", ("gamma;true", "gamma")),
    ("alternatives with suffix refuse a prefix of one", "(beta|gamma);true", "bet;true", None),
    ("top-level alternatives", "Failed|Succeeded", "Succeeded", ("Succeeded",)),
    ("escaped pipe is a literal", r"a\|b", "a|b", ("a|b",)),
    ("empty alternative", "(a|)x", "x", ("x", "")),
    ("non-ASCII group offsets", "(é+)(.)", "ééx", ("ééx", "éé", "x")),
]


@pytest.mark.parametrize(("case", "regex", "text", "groups"), MATCHES, ids=[c for c, *_ in MATCHES])
def test_matching(case: str, regex: str, text: str, groups: tuple[str | None, ...] | None) -> None:
    for compiled in (Regex(regex), Regex(regex, shortcuts=False)):
        assert compiled.find(text) == groups
        assert compiled.match(text) is (groups is not None)


# Expansions against one match: regex (f)(o+)(?P<n>x)?(?P<m>y)? on "fooy".
EXPANSIONS = [
    ("number", "$1", "f"),
    ("braced number", "${1}", "f"),
    ("longest name: $1x is the group named 1x", "$1x", ""),
    ("braces end the name", "${1}x", "fx"),
    ("$$ is a dollar", "$$1", "$1"),
    ("lone dollar stays", "$", "$"),
    ("dollar at the end stays", "x$", "x$"),
    ("unclosed brace stays", "${", "${"),
    ("unclosed braced number stays", "${1", "${1"),
    ("empty braces stay", "${}", "${}"),
    ("dollar before punctuation stays", "a$-b", "a$-b"),
    ("dollar before space stays", "$ 1", "$ 1"),
    ("whole match", "$0", "fooy"),
    ("leading zero makes a name", "$01", ""),
    ("two digits are one number", "$10", ""),
    ("nine digits are still a number", "$100000000", ""),
    ("non-participating named group", "$n", ""),
    ("named group", "$m", "y"),
    ("braced named group", "${m}", "y"),
    ("underscore is part of a name", "$m_", ""),
    ("non-ASCII letters are part of a name", "$é", ""),
    ("non-ASCII digits make a name", "$٣", ""),
    ("several references", "$2$1", "oof"),
    ("dollar then reference", "$$$1", "$f"),
    ("mixed", "${m}_${2}", "y_oo"),
    ("adjacent braced", "${1}${2}", "foo"),
    ("Prometheus test case", "ch${1}-ch${1}", "chf-chf"),
]


@pytest.mark.parametrize(("case", "template", "expected"), EXPANSIONS, ids=[c for c, *_ in EXPANSIONS])
def test_expand(case: str, template: str, expected: str) -> None:
    regex = Regex("(f)(o+)(?P<n>x)?(?P<m>y)?")
    groups = regex.find("fooy")
    assert groups is not None
    assert regex.template(template).expand(groups) == expected


@pytest.mark.parametrize(
    ("case", "regex", "text", "template", "expected"),
    [
        ("a name takes the first group of that name that participated", "(?P<a>x)?(?P<a>y)", "y", "$a", "y"),
        ("the first of two participating groups of one name", "(?P<a>x)?(?P<a>y)", "xy", "$a", "x"),
        ("digit-leading group names", "(?P<1x>q)", "q", "$1x", "q"),
        ("numbers win over a digit-only name", "(?P<2>a)(b)", "ab", "$2", "b"),
        ("a group number past the last group is empty", "(a)", "a", "[$2]", "[]"),
        ("a shortcut shape keeps its one group", "Node;(.*)", "Node;n1", "${1}", "n1"),
        ("a shortcut shape without groups", "web", "web", "$1|$0", "|web"),
    ],
)
def test_expand_group_resolution(case: str, regex: str, text: str, template: str, expected: str) -> None:
    compiled = Regex(regex)
    groups = compiled.find(text)
    assert groups is not None
    assert compiled.template(template).expand(groups) == expected


@pytest.mark.parametrize(
    ("case", "regex", "text", "template", "expected"),
    [
        ("labelmap rename", "(.)_(x)", "a_x", "m_$2", "m_x"),
        ("no match leaves the text", "(.)_(x)", "ab", "m_$2", "ab"),
        ("escaped alternation replaces at both ends", "a)|(b", "abab", "[$0]", "[a]ba[b]"),
        ("an empty match at the end after a match", "x*)|(", "xxb", "[$0]", "[xx]b[]"),
        ("an empty text", "x*)|(", "", "[$0]", "[]"),
        ("non-ASCII advances by whole characters", "é)|(b", "éab", "[$0]", "[é]a[b]"),
        ("templates see the groups of each match", "(a))|((b)", "ab", "<$1$3>", "<a><b>"),
    ],
)
def test_replace_all(case: str, regex: str, text: str, template: str, expected: str) -> None:
    for compiled in (Regex(regex), Regex(regex, shortcuts=False)):
        assert compiled.replace_all(text, compiled.template(template)) == expected


SHAPES = ["", "abc", "a;b", r"a\.b", "(.*)", "(.+)", ".*", ".+", "x(.*)", "(.*)y", "x(.+)y", "x.*y", "(a|b|)",
          "(a|ab);c", "a|b|", "p(q)s", "()", r"(\||x)"]  # fmt: skip


@pytest.mark.parametrize("regex", SHAPES)
def test_shortcut_shapes_agree_with_re2(regex: str) -> None:
    """The common shapes answered without RE2 must give RE2's answers on any text."""
    fast, slow = Regex(regex), Regex(regex, shortcuts=False)
    rng = random.Random(regex)
    alphabet = "abcxyqps;.|é\n"
    texts = ["", "a", "ab", "ab;c", "xy", "x", "y", "a|b", "|", "pqs", *(
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(300)
    )]  # fmt: skip
    for text in texts:
        assert fast.find(text) == slow.find(text), text
        assert fast.match(text) == slow.match(text), text


def test_compiled_regexes_are_shared() -> None:
    assert compile_regex("(.*)") is compile_regex("(.*)")


def test_translate_names_groups_by_index() -> None:
    _, names = translate("^(?s:(a)(?P<x>b)(?:c)(?<y>d))$")
    assert names == (None, None, "x", "y")


def test_translate_rewrites_go_only_syntax_for_re2() -> None:
    text, _ = translate(r"\Q.\E\101[\x41-\x{43}](?P<n>x)")
    assert text == r"\x{2e}\x{41}[\x{41}-\x{43}](x)"
