"""The external programs the tests run, found one way. `make test` provides every one of them (hack/deps.sh
installs the Debian packages, the Makefile's targets build the rest), so a missing one fails the test that needs it
with the command that provides it: never a skip here and an error there."""

from __future__ import annotations

import shutil

import pytest


def debian_tool(name: str, package: str) -> str:
    """`name` on PATH, from Debian's `package`."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not on PATH: it comes from Debian's {package} package, which `make test` installs "
            f"(hack/deps.sh; or: sudo apt-get install {package})"
        )
    return path


def built_tool(path: str | None, what: str, target: str) -> str:
    """A tool the Makefile builds and caches (`make TARGET`, which `make test` runs first)."""
    if path is None:
        pytest.fail(f"{what} is not built: run `make {target}` (`make test` does)")
    return path
