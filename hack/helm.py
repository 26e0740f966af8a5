#!/usr/bin/env python3
"""The Helm CLI, built from the Go module proxy: the chart tests' lint and render engine.

Standard library only, like localcluster.py, so CI can build it before any virtualenv exists.

  python3 hack/helm.py build           find or build it, print its path
  python3 hack/helm.py find            print its path if it is already there (exit 1 otherwise)
  python3 hack/helm.py manifests       copy crds/ into the chart, render deploy/otel-operator.yaml from it
  python3 hack/helm.py manifests --check   exit 1 when either is out of date (CI)
  python3 hack/helm.py values-table    the README's values table, from the chart's values.schema.json

First match wins: $OTEL_OPERATOR_HELM; the cache ($OTEL_OPERATOR_CACHE or ~/.cache/otel-operator,
`helm-v3.22.0/helm`); a build from the Go module proxy into that cache (a throwaway module, so the build never
depends on a `helm` already on PATH; about 2 minutes on 2 cores with a cold module cache, once).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster

HELM_VERSION = "v3.22.0"
HELM_MODULE = "helm.sh/helm/v3"

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "otel-operator"
MANIFEST = ROOT / "deploy" / "otel-operator.yaml"
# The kubectl install's release name and namespace (the Helm defaults users are told to use too).
RELEASE, NAMESPACE = "otel-operator", "otel-operator-system"
# The chart ships the CRDs this project owns. crds/ also holds stand-ins for prometheus-operator's CRDs (test
# fixtures with reduced schemas): installing them would replace a cluster's real ones, so the chart leaves them out.
CHART_CRDS = "opentelemetry.io_*.yaml"


def cached() -> Path:
    return localcluster.cache_root() / f"helm-{HELM_VERSION}" / "helm"


def find(build: bool = True) -> str | None:
    """The binary's path; None when it is not cached and cannot be built (no Go)."""
    if env := os.environ.get("OTEL_OPERATOR_HELM"):
        return env
    binary = cached()
    if os.access(binary, os.X_OK):
        return str(binary)
    if not build or shutil.which("go") is None:
        return None
    build_helm(binary.parent)
    return str(binary)


def build_helm(folder: Path) -> None:
    work = folder / "src"
    work.mkdir(parents=True, exist_ok=True)
    env = localcluster.go_env()
    localcluster.log(f"building Helm {HELM_VERSION} from the Go module proxy in {work} (once)")
    meta = subprocess.run(
        ["go", "mod", "download", "-json", f"{HELM_MODULE}@{HELM_VERSION}"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    upstream = Path(json.loads(meta.stdout)["GoMod"]).read_text()
    # carry over any replace directives (none in 3.22) and the Go version the module asks for
    replaces = re.findall(r"^replace .+$", upstream, re.M)
    go = re.search(r"^go (\S+)$", upstream, re.M)
    # Helm's Makefile stamps the Kubernetes version its client libraries speak (client-go v0.Y → 1.Y) as the default
    # of `helm template`/`lint`; without it they assume 1.20 and refuse charts that need more.
    client_go = re.search(r"^\s*k8s\.io/client-go v0\.(\d+)\.", upstream, re.M)
    kube_minor = client_go.group(1) if client_go else "30"
    (work / "go.mod").write_text(
        "module helmtool\n\n"
        f"go {go.group(1) if go else '1.25'}\n\n"
        f"require {HELM_MODULE} {HELM_VERSION}\n\n" + "\n".join(replaces) + "\n"
    )
    (work / "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{HELM_MODULE}/cmd/helm"\n')
    localcluster.run(["go", "mod", "tidy"], cwd=work, env=env)
    tmp = folder / ".helm.tmp"
    localcluster.run(
        [
            "go",
            "build",
            "-trimpath",
            "-ldflags",
            f"-s -w -X {HELM_MODULE}/internal/version.version={HELM_VERSION}"
            f" -X {HELM_MODULE}/internal/version.gitTreeState=clean"
            f" -X {HELM_MODULE}/pkg/chartutil.k8sVersionMajor=1"
            f" -X {HELM_MODULE}/pkg/chartutil.k8sVersionMinor={kube_minor}"
            f" -X {HELM_MODULE}/pkg/lint/rules.k8sVersionMajor=1"
            f" -X {HELM_MODULE}/pkg/lint/rules.k8sVersionMinor={kube_minor}",
            "-o",
            str(tmp),
            f"{HELM_MODULE}/cmd/helm",
        ],
        cwd=work,
        env=env,
    )
    tmp.rename(folder / "helm")
    shutil.rmtree(work, ignore_errors=True)  # the module cache keeps the sources


# --------------------------------------------------------------------------- generated files


def helm_or_exit() -> str:
    path = find()
    if path is None:
        sys.exit(f"Helm {HELM_VERSION} is not cached and Go is not installed to build it")
    return path


def helm_run(helm: str, *args: str) -> str:
    """Helm's standard output; its error message (not a traceback) when it fails."""
    done = subprocess.run([helm, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"helm {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout


def chart_crds() -> dict[str, str]:
    """The chart's crds/ folder as it should be: file name → text, copied from the repository's crds/."""
    return {p.name: p.read_text() for p in sorted((ROOT / "crds").glob(CHART_CRDS))}


def render_manifest(helm: str) -> str:
    """The single-file kubectl install: the Namespace, the CRDs and the chart's objects with default values."""
    out = helm_run(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds")
    header = (
        "# Generated by `make manifests` (hack/helm.py) from charts/otel-operator with its default values;\n"
        "# do not edit. Install: kubectl apply --server-side -f deploy/otel-operator.yaml\n"
        "---\n"
        f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"
    )
    return header + out


def manifests(check: bool) -> int:
    helm = helm_or_exit()
    stale: list[str] = []
    folder = CHART / "crds"
    wanted = chart_crds()
    present = {p.name: p.read_text() for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}
    if present != wanted:
        stale.append(str(folder.relative_to(ROOT)))
        if not check:
            folder.mkdir(exist_ok=True)
            for name in present.keys() - wanted.keys():
                (folder / name).unlink()
            for name, text in wanted.items():
                (folder / name).write_text(text)
    text = render_manifest(helm)  # after the CRDs are in place: the manifest includes them
    if not MANIFEST.exists() or MANIFEST.read_text() != text:
        stale.append(str(MANIFEST.relative_to(ROOT)))
        if not check:
            MANIFEST.parent.mkdir(exist_ok=True)
            MANIFEST.write_text(text)
    if check and stale:
        print(f"out of date: {', '.join(stale)}; run `make manifests`", file=sys.stderr)
        return 1
    for path in [] if check else stale:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _default(value: object) -> str:
    return "`" + json.dumps(value, separators=(", ", ": ")) + "`"


def values_table() -> str:
    """A Markdown table of every value: its key, type, default (from values.yaml, read by Helm) and description."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    helm = helm_or_exit()
    shown = helm_run(helm, "show", "values", str(CHART))
    try:
        import yaml  # the virtualenv's; the rest of this script needs only the standard library
    except ImportError:
        sys.exit("values-table needs PyYAML: run it with .venv/bin/python")
    defaults = yaml.safe_load(shown)
    rows = ["| value | type | default | description |", "|---|---|---|---|"]

    def walk(props: dict[str, object], prefix: str, dflt: object) -> None:
        for key, sub in props.items():
            assert isinstance(sub, dict)
            name = prefix + key
            value = dflt.get(key) if isinstance(dflt, dict) else None
            if sub.get("type") == "object" and "properties" in sub and "description" not in sub:
                walk(sub["properties"], name + ".", value)
                continue
            if key == "global":
                continue
            kind = sub.get("type", "object")
            kind = " or ".join(kind) if isinstance(kind, list) else kind
            rows.append(f"| `{name}` | {kind} | {_default(value)} | {sub.get('description', '')} |")

    walk(schema["properties"], "", defaults)
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build")
    sub.add_parser("find")
    m = sub.add_parser("manifests")
    m.add_argument("--check", action="store_true")
    sub.add_parser("values-table")
    args = parser.parse_args(argv)
    if args.command in ("build", "find"):
        path = find(build=args.command == "build")
        if path is None:
            print(
                f"Helm {HELM_VERSION} is not cached" + (" and Go is not installed" if args.command == "build" else "")
            )
            return 1
        print(path)
        return 0
    if args.command == "manifests":
        return manifests(args.check)
    sys.stdout.write(values_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
