#!/usr/bin/env python3
"""The real OpenTelemetry Collector, built with the OpenTelemetry Collector Builder (ocb), for the end-to-end tests.

Only what the tests run is compiled in: the contrib Prometheus receiver (with its target_allocator client), the OTLP
receiver (the troubleshooting guide's collector has one), the contrib file exporter, the debug exporter and the batch
processor. The cached binary is rebuilt when this list changes (components.json beside it records what it holds).
Standard library only, like localcluster.py.

  python3 hack/collector.py build [tests|upstream-e2e]
        find or build it, print its path; upstream-e2e: the larger distribution upstream's chainsaw tests configure
        (filelog receiver, prometheus/otlp exporters, memory_limiter, health_check), cached apart

First match wins: $OTEL_OPERATOR_OTELCOL; the cache ($OTEL_OPERATOR_CACHE or ~/.cache/otel-operator,
`otelcol-v0.158.0/otelcol`); a build from the Go module proxy into that cache (ocb itself, then the collector it
generates: about a quarter of an hour on 2 cores, once).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster

OTELCOL_VERSION = "v0.158.0"  # the collector release the operator's v0.158 images ship
STABLE_VERSION = "v1.64.0"  # the collector's 1.x modules (confmap providers) of that release
BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder"
CORE = "go.opentelemetry.io/collector"
CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"
BINARY = "otelcol"

# kind → module paths (each at OTELCOL_VERSION): what the tests' collectors configure, and no more
COMPONENTS: dict[str, tuple[str, ...]] = {
    "receivers": (f"{CONTRIB}/receiver/prometheusreceiver", f"{CORE}/receiver/otlpreceiver"),
    "exporters": (f"{CONTRIB}/exporter/fileexporter", f"{CORE}/exporter/debugexporter"),
    "processors": (f"{CORE}/processor/batchprocessor",),
}
# upstream's own e2e tests (hack/chainsaw.py --real-node) configure more: a distribution of its own, cached apart,
# so the project's tests keep their smaller binary
# (the module proxy here serves no v0.158.0 of the k8s_cluster, k8s_events, k8sobjects and kubeletstats receivers,
# the k8s_leader_elector extension or the nop receiver: tests configuring them cannot start their collector)
UPSTREAM_E2E_COMPONENTS: dict[str, tuple[str, ...]] = {
    "receivers": (*COMPONENTS["receivers"], f"{CONTRIB}/receiver/filelogreceiver",
                  f"{CONTRIB}/receiver/jaegerreceiver"),
    "exporters": (*COMPONENTS["exporters"], f"{CONTRIB}/exporter/prometheusexporter", f"{CORE}/exporter/otlpexporter",
                  f"{CORE}/exporter/otlphttpexporter", f"{CORE}/exporter/nopexporter"),
    "processors": (*COMPONENTS["processors"], f"{CORE}/processor/memorylimiterprocessor",
                   f"{CONTRIB}/processor/k8sattributesprocessor", f"{CONTRIB}/processor/resourcedetectionprocessor"),
    "extensions": (f"{CONTRIB}/extension/healthcheckextension",),
}  # fmt: skip
# how the configuration is read: a file (--config=PATH), the environment, inline YAML (--config=yaml:...)
PROVIDERS = ("envprovider", "fileprovider", "yamlprovider")


@dataclass(frozen=True)
class Distribution:
    folder: str  # under the cache
    env: str  # the variable naming a binary to use instead
    components: dict[str, tuple[str, ...]]


TESTS = Distribution(f"otelcol-{OTELCOL_VERSION}", "OTEL_OPERATOR_OTELCOL", COMPONENTS)
UPSTREAM_E2E = Distribution(f"otelcol-upstream-e2e-{OTELCOL_VERSION}", "OTEL_OPERATOR_OTELCOL_UPSTREAM_E2E",
                            UPSTREAM_E2E_COMPONENTS)  # fmt: skip
DISTRIBUTIONS = {"tests": TESTS, "upstream-e2e": UPSTREAM_E2E}


def cached(dist: Distribution = TESTS) -> Path:
    return localcluster.cache_root() / dist.folder / BINARY


def components_record(dist: Distribution = TESTS) -> str:
    return json.dumps(
        {"version": OTELCOL_VERSION, "components": dist.components, "providers": PROVIDERS}, sort_keys=True
    )


def find(build: bool = True, dist: Distribution = TESTS) -> str | None:
    """The binary's path; None when it is not cached and cannot be built (no Go). A cached binary built with other
    components is rebuilt (when building is allowed and Go is here)."""
    binary = cached(dist)
    record = binary.parent / "components.json"
    stale = binary.exists() and (not record.exists() or record.read_text() != components_record(dist))
    if stale and build and shutil.which("go") is not None:
        localcluster.log(f"{binary} was built with other components: rebuilding", "collector")
        binary.unlink()
    return localcluster.find_tool(dist.env, binary, lambda folder: build_collector(folder, dist), allow_build=build)


def manifest(output_path: Path, dist: Distribution = TESTS) -> dict[str, Any]:
    """ocb's build configuration: the distribution's name and where ocb generates and compiles it."""
    release = OTELCOL_VERSION
    doc: dict[str, Any] = {
        "dist": {
            "module": "github.com/otel-operator/otelcol-e2e",
            "name": BINARY,
            "description": "OpenTelemetry Collector for otel-operator's end-to-end tests",
            "version": release[1:],
            "output_path": str(output_path),
        },
    }
    for kind, modules in dist.components.items():
        doc[kind] = [{"gomod": f"{module} {release}"} for module in modules]
    doc["providers"] = [{"gomod": f"{CORE}/confmap/provider/{name} {STABLE_VERSION}"} for name in PROVIDERS]
    return doc


def manifest_text(output_path: Path, dist: Distribution = TESTS) -> str:
    # JSON is YAML, so the standard library writes ocb's configuration
    return json.dumps(manifest(output_path, dist), indent=2) + "\n"


def build_collector(folder: Path, dist: Distribution = TESTS) -> None:
    """ocb at the collector's release, installed beside the binary, then the collector it generates (the module
    cache keeps the sources; the generated code is removed once the binary is in place)."""
    env = localcluster.go_env()
    tools, work = folder / "tools", folder / "src"
    tools.mkdir(parents=True, exist_ok=True)
    builder = tools / "builder"
    if not builder.exists():
        localcluster.log(f"installing ocb {OTELCOL_VERSION} from the Go module proxy into {tools}", "collector")
        localcluster.run(
            ["go", "install", f"{BUILDER_MODULE}@{OTELCOL_VERSION}"], env=dict(env, GOBIN=str(tools)), tag="collector"
        )
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = folder / "builder.yaml"
    config.write_text(manifest_text(work, dist))
    localcluster.log(f"building the OpenTelemetry Collector {OTELCOL_VERSION} with ocb in {work} (once)", "collector")
    localcluster.run([str(builder), f"--config={config}", "--ldflags=-s -w"], cwd=folder, env=env, tag="collector")
    tmp = folder / f".{BINARY}.{os.getpid()}.tmp"  # per process: two builds at once must not share it
    shutil.move(work / BINARY, tmp)
    tmp.rename(folder / BINARY)
    (folder / "components.json").write_text(components_record(dist))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] != ["build"] or len(sys.argv) > 3 or (sys.argv[2:] and sys.argv[2] not in DISTRIBUTIONS):
        sys.exit(__doc__)
    path = find(dist=DISTRIBUTIONS[sys.argv[2] if sys.argv[2:] else "tests"])
    if path is None:
        sys.exit(f"the OpenTelemetry Collector {OTELCOL_VERSION} is not cached and Go is not installed to build it")
    print(path)
