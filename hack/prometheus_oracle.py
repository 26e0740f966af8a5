#!/usr/bin/env python3
"""Prometheus v3 with Kubernetes, HTTP, file and DNS service discovery: the oracle for our discovery labels.

Debian's `prometheus` package (2.42) is built without Kubernetes SD ("Kubernetes support has been completely
removed", its NEWS.Debian), so the discovery tests need their own. Standard library only, like localcluster.py.

  python3 hack/prometheus_oracle.py build     find or build it, print its path

First match wins: $OTEL_OPERATOR_PROMETHEUS; the cache ($OTEL_OPERATOR_CACHE or ~/.cache/otel-operator,
`prometheus-v3.14.0-kubernetes-dns/prometheus`); a build from the Go module proxy into that cache, with only the
Kubernetes and DNS SD plugins compiled in besides the file and HTTP ones every build has (about 7 minutes on 2
cores, once). The folder names the plugins: a build with other plugins is another binary, never reused.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster

PROMETHEUS_VERSION = "v3.14.0"
PROMETHEUS_MODULE_VERSION = "v0.314.0"  # Prometheus 3.x is published to the Go module proxy as v0.3xx.y
# file and http SD are in every build (plugins/minimum.go); the others are opted into by tag
SD_PLUGINS = ("kubernetes", "dns")


def cached() -> Path:
    return localcluster.cache_root() / f"prometheus-{PROMETHEUS_VERSION}-{'-'.join(SD_PLUGINS)}" / "prometheus"


def find(build: bool = True) -> str | None:
    """The binary's path; None when it is not cached and cannot be built (no Go)."""
    return localcluster.find_tool("OTEL_OPERATOR_PROMETHEUS", cached(), build_prometheus, allow_build=build)


def build_prometheus(folder: Path) -> None:
    localcluster.go_build_from_proxy(
        folder,
        label=f"Prometheus {PROMETHEUS_VERSION}",
        module="github.com/prometheus/prometheus",
        version=PROMETHEUS_MODULE_VERSION,
        package="github.com/prometheus/prometheus/cmd/prometheus",
        binary="prometheus",
        tags=",".join(("remove_all_sd", *(f"enable_{name}_sd" for name in SD_PLUGINS))),
        ldflags=lambda _: f"-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_VERSION[1:]}",
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit(__doc__)
    path = find()
    if path is None:
        sys.exit(f"Prometheus {PROMETHEUS_VERSION} is not cached and Go is not installed to build it")
    print(path)
