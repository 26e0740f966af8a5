"""`make deps` (hack/deps.sh, which `make test` and .ci/run run first): silent when nothing is missing; as a user who
is not root, one message naming every missing Debian package and the command that installs them, and exit 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "hack" / "deps.sh"


def run(path: str, uid: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "DEPS_AS_UID": uid, "HOME": os.environ.get("HOME", "/root")}
    bash = shutil.which("bash")
    assert bash is not None
    return subprocess.run([bash, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60, check=False)


def test_nothing_missing_says_nothing() -> None:
    # `make test` ran it before this test: everything it checks for a user is there now
    done = run(os.environ["PATH"], "1000")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_user_is_told_once_what_is_missing_and_how_to_install_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = sys.executable
    wrapper = bin_dir / "python3"  # only python3 (with venv): everything else is missing
    wrapper.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n')
    wrapper.chmod(0o755)
    done = run(str(bin_dir), "1000")
    assert done.returncode == 1
    assert done.stdout == ""
    missing = "make openssl git curl yq prometheus chromium golang-go"
    assert done.stderr.splitlines() == [
        f"make test needs these Debian packages, which are missing: {missing}",
        f"install them with:  sudo apt-get update && sudo apt-get install -y --no-install-recommends {missing}",
        "(or run 'make test INSTALL=1' to let it use sudo; as root it installs them itself)",
    ]
