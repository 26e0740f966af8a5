"""The README's `otel-operator --help` block is what the command prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_shows_the_real_help() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("$ otel-operator --help\n") + len("$ otel-operator --help\n")
    shown = readme[start : readme.index("```", start)]
    env = {"COLUMNS": "80", "PATH": "/usr/bin:/bin"}
    printed = subprocess.run(
        [sys.executable, "-m", "otel_operator", "--help"], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert shown == printed
    assert printed.count("diagnose") == 2  # listed once (and once in the examples), not twice as before
