#!/usr/bin/env python3
"""Prometheus v3 with Kubernetes service discovery: the oracle for our discovery labels.

Debian's `prometheus` package (2.42) is built without Kubernetes SD ("Kubernetes support has been completely
removed", its NEWS.Debian), so the discovery tests need their own. Standard library only, like localcluster.py.

  python3 hack/prometheus_oracle.py build     find or build it, print its path

First match wins: $OTEL_OPERATOR_PROMETHEUS; the cache ($OTEL_OPERATOR_CACHE or ~/.cache/otel-operator,
`prometheus-v3.14.0/prometheus`); a build from the Go module proxy into that cache, with only the Kubernetes SD
plugin compiled in (about 7 minutes on 2 cores, once).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster

PROMETHEUS_VERSION = "v3.14.0"
PROMETHEUS_MODULE_VERSION = "v0.314.0"  # Prometheus 3.x is published to the Go module proxy as v0.3xx.y


def cached() -> Path:
    return localcluster.cache_root() / f"prometheus-{PROMETHEUS_VERSION}" / "prometheus"


def find(build: bool = True) -> str | None:
    """The binary's path; None when it is not cached and cannot be built (no Go)."""
    if env := os.environ.get("OTEL_OPERATOR_PROMETHEUS"):
        return env
    binary = cached()
    if os.access(binary, os.X_OK):
        return str(binary)
    if not build or shutil.which("go") is None:
        return None
    build_prometheus(binary.parent)
    return str(binary)


def build_prometheus(folder: Path) -> None:
    work = folder / "src"
    work.mkdir(parents=True, exist_ok=True)
    env = localcluster.go_env()
    localcluster.log(f"building Prometheus {PROMETHEUS_VERSION} from the Go module proxy in {work} (once)")
    meta = subprocess.run(
        ["go", "mod", "download", "-json", f"github.com/prometheus/prometheus@{PROMETHEUS_MODULE_VERSION}"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    upstream = Path(json.loads(meta.stdout)["GoMod"]).read_text()
    # `go install pkg@version` refuses modules with replace directives, so carry them over into our own module
    replaces = re.findall(r"^replace .+$", upstream, re.M)
    go = re.search(r"^go (\S+)$", upstream, re.M)
    (work / "go.mod").write_text(
        "module promoracle\n\n"
        f"go {go.group(1) if go else '1.25'}\n\n"
        f"require github.com/prometheus/prometheus {PROMETHEUS_MODULE_VERSION}\n\n" + "\n".join(replaces) + "\n"
    )
    (work / "tools.go").write_text(
        '//go:build tools\n\npackage tools\n\nimport _ "github.com/prometheus/prometheus/cmd/prometheus"\n'
    )
    localcluster.run(["go", "mod", "tidy"], cwd=work, env=env)
    tmp = folder / ".prometheus.tmp"
    localcluster.run(
        [
            "go",
            "build",
            "-trimpath",
            "-tags",
            "remove_all_sd,enable_kubernetes_sd",
            "-ldflags",
            f"-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_VERSION[1:]}",
            "-o",
            str(tmp),
            "github.com/prometheus/prometheus/cmd/prometheus",
        ],
        cwd=work,
        env=env,
    )
    tmp.rename(folder / "prometheus")
    shutil.rmtree(work, ignore_errors=True)  # the module cache keeps the sources


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit(__doc__)
    path = find()
    if path is None:
        sys.exit(f"Prometheus {PROMETHEUS_VERSION} is not cached and Go is not installed to build it")
    print(path)
