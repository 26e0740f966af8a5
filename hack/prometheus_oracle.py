#!/usr/bin/env python3
"""Prometheus v3 and its promtool, built from the Go module proxy: the oracles of our discovery and relabeling.

Debian's `prometheus` package (2.42) is built without Kubernetes SD ("Kubernetes support has been completely
removed", its NEWS.Debian), so the discovery tests need their own server; and its promtool relabels as 2.42 does,
so the differential relabeling tests also run a promtool of the version the target allocator links (v3.14).
Standard library only, like localcluster.py.

  python3 hack/prometheus_oracle.py build     find or build both, print their paths (server, then promtool)

For each, first match wins: $OTEL_OPERATOR_PROMETHEUS / $OTEL_OPERATOR_PROMTOOL; the cache ($OTEL_OPERATOR_CACHE
or ~/.cache/otel-operator, `prometheus-v3.14.0-kubernetes-dns/prometheus`, `promtool-v3.14.0-kubernetes-dns/
promtool`); a build from the Go module proxy into that cache, with only the Kubernetes and DNS SD plugins compiled
in besides the file and HTTP ones every build has (the server about 7 minutes on 2 cores, once; promtool about 10 s
after it, as Go's build cache already holds most of its packages, about 4 minutes from an empty build cache). The
folder names the version and the plugins: a build with other plugins is another binary, never reused.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster

PROMETHEUS_VERSION = "v3.14.0"
PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
PROMETHEUS_MODULE_VERSION = "v0.314.0"  # Prometheus 3.x is published to the Go module proxy as v0.3xx.y
# file and http SD are in every build (plugins/minimum.go); the others are opted into by tag
SD_PLUGINS = ("kubernetes", "dns")


def _folder(binary: str) -> Path:
    return localcluster.cache_root() / f"{binary}-{PROMETHEUS_VERSION}-{'-'.join(SD_PLUGINS)}"


def cached() -> Path:
    """Where the server is cached."""
    return _folder("prometheus") / "prometheus"


def cached_promtool() -> Path:
    """Where promtool is cached: its own folder, so either binary can be rebuilt without the other."""
    return _folder("promtool") / "promtool"


def find(build: bool = True) -> str | None:
    """The server's path; None when it is not cached and cannot be built (no Go)."""
    return localcluster.find_tool("OTEL_OPERATOR_PROMETHEUS", cached(), _builder("prometheus"), allow_build=build)


def find_promtool(build: bool = True) -> str | None:
    """promtool v3's path; None when it is not cached and cannot be built (no Go)."""
    return localcluster.find_tool("OTEL_OPERATOR_PROMTOOL", cached_promtool(), _builder("promtool"), allow_build=build)


def _builder(binary: str) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        localcluster.go_build_from_proxy(
            folder,
            label=f"{binary} {PROMETHEUS_VERSION}",
            tag="prometheus_oracle",
            module=PROMETHEUS_MODULE,
            version=PROMETHEUS_MODULE_VERSION,
            package=f"{PROMETHEUS_MODULE}/cmd/{binary}",
            binary=binary,
            # the same tags for both, so promtool reuses the server's compiled packages and reads the same configs
            tags=",".join(("remove_all_sd", *(f"enable_{name}_sd" for name in SD_PLUGINS))),
            ldflags=lambda _: f"-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_VERSION[1:]}",
        )

    return build


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit(__doc__)
    for name, finder in (("Prometheus", find), ("promtool", find_promtool)):
        path = finder()
        if path is None:
            sys.exit(f"{name} {PROMETHEUS_VERSION} is not cached and Go is not installed to build it")
        print(path)
