"""Every command example in README.md, charts/README.md and docs/*.md is executed, or, where it needs a cluster,
parsed with its files checked, and compared with what the docs show.

A comment line right before a fenced block says what the block is (clauses separated by `;`):

    <!-- example: run -->                 each `$ COMMAND` is run (bash, in a scratch folder holding a copy of
                                          examples/ and the doc's `file` blocks); what it prints, stdout and stderr
                                          as a terminal shows them, must be the lines shown up to the next `$`
                                          (a line `...` stands for any number of lines). A command ending in `&`
                                          runs in the background until the block is done.
    <!-- example: run; port 8080 -->      the same, port 8080 swapped for a free one in the commands and the files
    <!-- example: run; port 8080; ready /readyz -->  ... and a command in the background is waited for until
                                          that path on the port answers 200
    <!-- example: parse; WHY -->          needs a cluster (or starts one): each command is parsed as its program
                                          would (otel-operator's own parser, the Makefile's targets, the chart's
                                          values), and every repository file it names must exist
    <!-- example: parse; not-in-repo P -->  ... except P, a file the reader or the command makes
    <!-- example: file NAME -->           the block is the file NAME the doc's `run` examples read

A block holding a command (a `$ ` line, or any line of a bash block) without such a comment fails the test.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from otel_operator.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "charts" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Docs another helper is editing, whose blocks are not marked yet: the test insists they still carry no marker, so
# it fails (and says to take the doc off this list) once they do.
UNMARKED = {"docs/allocator.md"}
MARKER = re.compile(r"^<!-- example: (.+?) -->$")
FENCE = re.compile(r"^```(\S*)\s*$")
SHELLS = {"bash", "sh", "shell", "console"}
VENV_BIN = Path(sys.executable).parent


@dataclass
class Block:
    doc: str
    line: int  # of the opening fence, 1-based
    lang: str
    body: list[str]
    marker: list[str] = field(default_factory=list)  # the clauses, [] when unmarked

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def kind(self) -> str:
        return self.marker[0].split()[0] if self.marker else ""

    def option(self, name: str) -> list[str]:
        return next((c.split()[1:] for c in self.marker[1:] if c.split()[0] == name), [])


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text().splitlines()
    doc = str(path.relative_to(ROOT))
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(before)
        clauses = [c.strip() for c in marker.group(1).split(";")] if marker else []
        found.append(Block(doc, start + 1, fence.group(1), body, clauses))
    return found


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """(command, the output shown for it) of a block: `$ ` lines of a text block, every line of a bash block."""
    if block.lang in SHELLS:
        joined: list[str] = []
        for line in block.body:
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1] + " " + line.strip()
            else:
                joined.append(line)
        return [(c, []) for c in joined if c.strip() and not c.lstrip().startswith("#")]
    result: list[tuple[str, list[str]]] = []
    for line in block.body:
        if line.startswith("$ "):
            result.append((line[2:], []))
        elif result:
            result[-1][1].append(line)
    return result


ALL = [b for doc in DOCS for b in blocks(doc)]
COMMAND_BLOCKS = [b for b in ALL if commands(b) and b.kind != "file"]


def test_the_docs_have_examples_of_every_kind() -> None:
    kinds = {b.kind for b in ALL}
    assert {"run", "parse", "file"} <= kinds, kinds
    assert len([b for b in COMMAND_BLOCKS if b.kind == "run"]) >= 5


@pytest.mark.parametrize("block", COMMAND_BLOCKS, ids=lambda b: b.where)
def test_every_command_block_says_what_it_is(block: Block) -> None:
    if block.doc in UNMARKED:
        assert not block.marker, f"{block.doc} is marked now: take it off UNMARKED in {Path(__file__).name}"
        return
    assert block.kind in ("run", "parse"), (
        f"{block.where}: a block of commands needs `<!-- example: run -->` or `<!-- example: parse; WHY -->` "
        "on the line before it (see this test's docstring)"
    )


def test_unmarked_docs_exist() -> None:
    for doc in UNMARKED:
        assert (ROOT / doc).exists(), f"{doc} is gone: take it off UNMARKED"


# --- parse: commands that need a cluster --------------------------------------------------------------------------


def words(command: str) -> list[list[str]]:
    """The simple commands of a line (split at |, &&, ;), each without its env assignments and redirections."""
    out: list[list[str]] = []
    current: list[str] = []
    lexer = shlex.shlex(command.split(" #", 1)[0], posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    for token in lexer:
        if token in ("|", "&&", ";", "&", "||"):
            out.append(current)
            current = []
        elif token in (">", ">>", "<"):
            current.append("\0redirect")
        else:
            current.append(token)
    out.append(current)
    cleaned = []
    for raw in out:
        argv = [w for i, w in enumerate(raw) if w != "\0redirect" and (i == 0 or raw[i - 1] != "\0redirect")]
        while argv and re.fullmatch(r"[A-Z_]+=\S*", argv[0]):
            argv = argv[1:]
        if argv:
            cleaned.append(argv)
    return cleaned


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))


def chart_values() -> set[str]:
    """Every value path the chart's schema declares (a.b.c)."""
    schema = yaml.safe_load((ROOT / "charts" / "otel-operator" / "values.schema.json").read_text())
    paths: set[str] = set()

    def walk(node: dict[str, object], prefix: str) -> None:
        for name, sub in (node.get("properties") or {}).items():  # type: ignore[attr-defined]
            paths.add(prefix + name)
            if isinstance(sub, dict):
                walk(sub, prefix + name + ".")

    walk(schema, "")
    return paths


def repo_file(block: Block, path: str) -> list[str]:
    """A problem when `path`, a relative path the command names, is not in the repository."""
    if path.startswith(("/", "~", "$", "-", "http")) or path in block.option("not-in-repo"):
        return []
    return [] if (ROOT / path).exists() else [f"{block.where}: {path} does not exist"]


def parse_problems(block: Block, argv: list[str]) -> list[str]:  # noqa: PLR0911 (one answer per program)
    program, args = argv[0], argv[1:]
    if program == "otel-operator":
        try:
            parsed = build_parser().parse_args(args)
        except SystemExit as done:
            return [] if done.code == 0 else [f"{block.where}: otel-operator refuses `{shlex.join(args)}`"]
        named = [getattr(parsed, a, None) for a in ("filename", "config", "kubeconfig")]
        named += getattr(parsed, "files", None) or []
        return [p for path in named if isinstance(path, str) for p in repo_file(block, path)]
    if program == "make":
        targets = [a for a in args if "=" not in a]
        return [f"{block.where}: the Makefile has no target {t}" for t in targets if t not in make_targets()]
    if program == "kubectl":
        files = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-f", "--filename")]
        return [p for path in files for p in repo_file(block, path)]
    if program == "helm":
        problems = []
        if args[0] in ("install", "upgrade"):
            problems += repo_file(block, args[2])
        values = chart_values()
        for i, a in enumerate(args[:-1]):
            if a == "--set":
                key = args[i + 1].split("=", 1)[0]
                if key not in values:
                    problems.append(f"{block.where}: the chart has no value {key}")
        return problems
    if program == "export":
        value = args[0].partition("=")[2]
        return repo_file(block, value.removeprefix("$PWD/")) if value.startswith("$PWD/") else []
    if program in ("curl", "grep"):
        return []
    return [f"{block.where}: this test does not know how to check `{program}`; teach it"]


@pytest.mark.parametrize("block", [b for b in COMMAND_BLOCKS if b.kind == "parse"], ids=lambda b: b.where)
def test_cluster_examples_parse_and_name_files_that_exist(block: Block) -> None:
    problems = [p for command, _ in commands(block) for argv in words(command) for p in parse_problems(block, argv)]
    assert not problems, "\n".join(problems)


# --- run: commands that need no cluster ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scratch(block: Block, tmp: Path, port: tuple[str, str] | None) -> Path:
    """A folder with a copy of examples/ and the doc's `file` blocks, `port` swapped in them."""
    shutil.copytree(ROOT / "examples", tmp / "examples")
    for other in ALL:
        if other.doc == block.doc and other.kind == "file":
            (tmp / other.marker[0].split()[1]).write_text("\n".join(other.body) + "\n")
    if port:
        for path in tmp.rglob("*"):
            if path.is_file() and path.suffix in (".yaml", ".yml"):
                path.write_text(path.read_text().replace(f":{port[0]}", f":{port[1]}"))
    return tmp


def matches(shown: list[str], printed: list[str]) -> bool:
    """`printed` is `shown`, a line `...` standing for any number of lines."""
    if not shown:
        return not printed
    if shown[0].strip() == "...":
        return any(matches(shown[1:], printed[i:]) for i in range(len(printed) + 1))
    return bool(printed) and printed[0] == shown[0] and matches(shown[1:], printed[1:])


def answers(url: str) -> bool:
    """Whether `url` answers (200, when it has a path)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as err:
        return urllib.parse.urlsplit(url).path in ("", "/") and err.code > 0
    except OSError:
        return False


@contextlib.contextmanager
def background(command: str, cwd: Path, env: dict[str, str], port: str | None, ready: str) -> Iterator[None]:
    """`command &`: started, waited for until `ready` on `port` answers 200 (the block's `ready PATH`; else any
    answer), stopped at the end."""
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(2000 if port is not None else 0):  # a hang guard, not a timing assertion
            if proc.poll() is not None:
                pytest.fail(
                    f"`{command}` ended before it was ready on {port}: {proc.stderr.read() if proc.stderr else ''}"
                )
            if answers(f"http://127.0.0.1:{port}{ready}"):
                break
            time.sleep(0.05)
        else:
            if port is not None:
                pytest.fail(f"`{command}` never answered 200 on http://127.0.0.1:{port}{ready}")
        yield
    finally:
        proc.terminate()
        proc.communicate()


@pytest.mark.parametrize("block", [b for b in COMMAND_BLOCKS if b.kind == "run"], ids=lambda b: b.where)
def test_examples_print_what_the_docs_show(block: Block, tmp_path: Path) -> None:
    given = block.option("port")
    port = (given[0], str(free_port())) if given else None
    cwd = scratch(block, tmp_path, port)
    env = {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "COLUMNS": "80",
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleaved as on a terminal
        "LANG": "C.UTF-8",
    }
    with contextlib.ExitStack() as stack:
        for command, expected in commands(block):
            run = command.replace(f":{port[0]}", f":{port[1]}") if port else command
            tools = {argv[0] for argv in words(run)}
            missing = sorted(t for t in tools if shutil.which(t, path=env["PATH"]) is None)
            assert not missing, f"{block.where}: `{command}` needs {', '.join(missing)}: install it (Debian package)"
            if run.rstrip().endswith("&"):
                ready = (block.option("ready") or [""])[0]
                stack.enter_context(background(run.rstrip()[:-1], cwd, env, port[1] if port else None, ready))
                continue
            done = subprocess.run(
                ["bash", "-c", "exec 2>&1\n" + run], cwd=cwd, env=env, capture_output=True, text=True, check=False
            )
            printed = done.stdout.splitlines()
            shown = list(expected)
            while shown and not shown[-1].strip():
                shown.pop()
            assert matches(shown, printed), (
                f"{block.where}: `{command}` printed\n"
                + "\n".join(printed)
                + "\nbut the docs show\n"
                + "\n".join(shown)
            )


def test_the_matcher_and_the_marker_parser() -> None:
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert matches(["a", "...", "z"], ["a", "z"])
    assert not matches(["a", "...", "z"], ["a", "b"])
    assert not matches(["a"], ["a", "b"])
    assert words("USE=1 K=2 make test  # comment") == [["make", "test"]]
    assert words("a x | b -r '.k + \" \"' > out.yaml") == [["a", "x"], ["b", "-r", '.k + " "']]
    md = ROOT / "README.md"
    kinds = [b.kind for b in blocks(md)]
    assert kinds.count("file") == 2, "README's collector.yaml and old.yaml"
    bad = Block("x.md", 1, "bash", ["helm install r charts/otel-operator --set nope=1", "kubectl apply -f crdz/"])
    bad.marker = ["parse"]
    problems = [p for c, _ in commands(bad) for argv in words(c) for p in parse_problems(bad, argv)]
    assert problems == ["x.md:1: the chart has no value nope", "x.md:1: crdz/ does not exist"]
    assert parse_problems(bad, ["otel-operator", "run", "--no-such-flag"]) == [
        "x.md:1: otel-operator refuses `run --no-such-flag`"
    ]
