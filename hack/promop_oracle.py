#!/usr/bin/env python3
"""prometheus-operator's own scrape-config generator as a command: the oracle of our ServiceMonitor/PodMonitor
generator (tests/unit/prom/test_monitors_vs_prometheus_operator.py).

hack/promop-oracle/main.go calls it the way the OpenTelemetry target allocator does (ResourceSelector, then
GenerateServerConfiguration with EndpointSlice discovery and inline TLS). It is built in a throwaway module that
requires prometheus-operator at PROMOP_VERSION, the version the allocator links, from the Go module proxy. Standard
library only, like localcluster.py.

  python3 hack/promop_oracle.py build     find or build it, print its path

First match wins: $OTEL_OPERATOR_PROMOP_ORACLE; the cache ($OTEL_OPERATOR_CACHE or ~/.cache/otel-operator,
`promop-oracle-<version>-<hash of main.go>/promop-oracle`); a build into that cache, once (measured on 2 cores:
4.5 minutes with empty Go module and build caches, under 3 with the modules already downloaded). The folder
names the source's hash, so editing main.go rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster

PROMOP_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMOP_VERSION = "v0.93.1"  # what the OTel target allocator's go.mod pins
SOURCE = Path(__file__).resolve().parent / "promop-oracle" / "main.go"
BINARY = "promop-oracle"
ENV_VAR = "OTEL_OPERATOR_PROMOP_ORACLE"


def cached() -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:10]
    return localcluster.cache_root() / f"{BINARY}-{PROMOP_VERSION}-{digest}" / BINARY


def find(build: bool = True) -> str | None:
    """The oracle's path; None when it is not cached and cannot be built (no Go)."""
    return localcluster.find_tool(ENV_VAR, cached(), build_oracle, allow_build=build)


def go_mod(upstream: str) -> str:
    """The throwaway module's go.mod, from prometheus-operator's own.

    Only the main module's replace directives count, so upstream's are carried over; those pointing into its own
    tree (`./pkg/apis/monitoring`, `./pkg/client`) become requirements of the same published version instead.
    """
    go = re.search(r"^go (\S+)$", upstream, re.M)
    lines: list[str] = []
    for block in re.findall(r"^replace \((.*?)^\)", upstream, re.M | re.S):
        lines += [line.strip() for line in block.splitlines() if line.strip()]
    lines += [m.strip() for m in re.findall(r"^replace ([^(].*)$", upstream, re.M)]
    requires, replaces = [f"{PROMOP_MODULE} {PROMOP_VERSION}"], []
    for line in lines:
        old, _, new = (part.strip() for part in line.partition("=>"))
        if new.startswith("./") or new.startswith("../"):
            requires.append(f"{old.split()[0]} {PROMOP_VERSION}")
        else:
            replaces.append(f"replace {old} => {new}")
    body = "".join(f"\t{r}\n" for r in requires)
    return f"module promoporacle\n\ngo {go.group(1) if go else '1.26'}\n\nrequire (\n{body})\n\n" + "\n".join(replaces)


def build_oracle(folder: Path) -> None:
    work = folder / "src"
    work.mkdir(parents=True, exist_ok=True)
    env = localcluster.go_env()
    localcluster.log(
        f"building {BINARY} against prometheus-operator {PROMOP_VERSION} in {work} (once)", "promop_oracle"
    )
    meta = subprocess.run(
        ["go", "mod", "download", "-json", f"{PROMOP_MODULE}@{PROMOP_VERSION}"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    upstream = Path(json.loads(meta.stdout)["GoMod"]).read_text()
    (work / "go.mod").write_text(go_mod(upstream) + "\n")
    shutil.copy(SOURCE, work / "main.go")
    localcluster.run(["go", "mod", "tidy"], cwd=work, env=env, tag="promop_oracle")
    tmp = folder / f".{BINARY}.{os.getpid()}.tmp"  # per process: two builds at once must not share it
    localcluster.run(
        ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp), "."], cwd=work, env=env, tag="promop_oracle"
    )
    tmp.rename(folder / BINARY)
    shutil.rmtree(work, ignore_errors=True)  # the module cache keeps the sources


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit(__doc__)
    path = find()
    if path is None:
        sys.exit(f"{BINARY} ({PROMOP_VERSION}) is not cached and Go is not installed to build it")
    print(path)
