#!/usr/bin/env python3
"""Upstream's own chainsaw end-to-end tests, run against this operator on the local control plane (issue 20).

Standard library only, like helm.py.

  python3 hack/chainsaw.py build    find or build chainsaw, print its path
  python3 hack/chainsaw.py find     print its path if it is already there (exit 1 otherwise)
  python3 hack/chainsaw.py run [--suite S ...] [--test NAME ...] [--report FILE] [--work DIR] [--no-webhooks]
      upstream v0.158's chainsaw suites against `otel-operator run` on a local control plane with a kubelet
      stand-in (hack/e2e_standin_kubelet.py: pods are Running and Ready, no container runs); writes the JSON summary
      {suite/test: "pass" | "fail: <step>/<operation>: <what failed>" | "skipped: <why>"} and prints a table.
      How, and what cannot pass here: docs/upstream-e2e.md.

chainsaw, first match wins: $OTEL_OPERATOR_CHAINSAW; the cache ($OTEL_OPERATOR_CACHE or ~/.cache/otel-operator,
`chainsaw-v0.2.12/chainsaw`); a build from the Go module proxy into that cache (a few minutes on 2 cores, once).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster

CHAINSAW_VERSION = "v0.2.12"
CHAINSAW_MODULE = "github.com/kyverno/chainsaw"

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_VERSION = "v0.158.0"
TARBALL = Path(
    os.environ.get(
        "OTEL_OPERATOR_UPSTREAM_TARBALL", f"/work/shared/bench/gota/upstream-operator-{UPSTREAM_VERSION}.tar.gz"
    )
)
# The suites in scope (instrumentation, OpAMP, OpenShift, upgrade, sidecar, no-crds and mTLS ones are not).
SUITES = (
    "e2e",
    "e2e-targetallocator",
    "e2e-targetallocator-cr",
    "e2e-pdb",
    "e2e-autoscale",
    "e2e-automatic-rbac",
    "e2e-prometheuscr",
    "e2e-metadata-filters",
)
# What upstream's CI adds to the operator's arguments for a suite (.github/workflows/e2e-reusable.yaml `setup`).
SUITE_ARGS = {
    "e2e-metadata-filters": [
        "--annotations-filter=.*filter.out",
        "--annotations-filter=config.*.gke.io.*",
        "--labels-filter=.*filter.out",
    ],
}
# upstream's Makefile passes `--selector sidecar=native` to these suites on Kubernetes >= 1.29 (ours is 1.34)
SUITE_SELECTOR = {"e2e-prometheuscr": {"sidecar": "native"}, "e2e-sidecar": {"sidecar": "native"}}
OPERATOR_NAMESPACE = "opentelemetry-operator-system"  # upstream's: the tests name it
WEBHOOKS = "otel-operator-e2e"
# Short timeouts: a failing test costs about a minute, not upstream's 6 (assert) + 5 (cleanup) minutes.
TIMEOUTS = {"apply": "15s", "assert": "30s", "error": "30s", "delete": "30s", "cleanup": "30s", "exec": "30s"}
# On the real node containers start, Jobs retry, collectors scrape: room for that, still far below upstream's
REAL_NODE_TIMEOUTS = TIMEOUTS | {"assert": "150s", "delete": "60s", "cleanup": "60s", "exec": "90s"}
VENV = ROOT / ".venv" / "bin"
PROBE = """apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: e2e-probe, namespace: default}
spec:
  config:
    receivers: {otlp: {protocols: {grpc: {}}}}
    exporters: {debug: {}}
    service: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}
"""


def cached() -> Path:
    return localcluster.cache_root() / f"chainsaw-{CHAINSAW_VERSION}" / "chainsaw"


# chainsaw v0.2.12 drives Go's `testing` package itself, through a testDeps of its own; Go 1.26 added a method to that
# interface, so the published source no longer builds with Go >= 1.26. This file (built only there) adds it.
GO126_PATCH = """//go:build go1.26

package internal

// ModulePath is part of testing's testDeps since Go 1.26 (added by otel-operator's hack/chainsaw.py).
func (*TestDeps) ModulePath() string { return "" }
"""


def build_chainsaw(folder: Path) -> None:
    """A copy of the module's source from the Go module proxy, patched for Go >= 1.26 (above), built in place:
    `go install ...@v0.2.12` would build the unpatched source."""
    env = localcluster.go_env()
    folder.mkdir(parents=True, exist_ok=True)
    localcluster.log(
        f"building chainsaw {CHAINSAW_VERSION} from the Go module proxy in {folder / 'src'} (once)", "chainsaw"
    )
    meta = subprocess.run(
        ["go", "mod", "download", "-json", f"{CHAINSAW_MODULE}@{CHAINSAW_VERSION}"],
        cwd=tempfile.gettempdir(), env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    src = folder / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(json.loads(meta.stdout)["Dir"], src)
    for path in [src, *src.rglob("*")]:  # the module cache's files are read-only
        path.chmod(path.stat().st_mode | 0o200)
    (src / "pkg/runner/internal/test_deps_go126.go").write_text(GO126_PATCH)
    tmp = folder / f".chainsaw.{os.getpid()}.tmp"
    ldflags = f"-s -w -X {CHAINSAW_MODULE}/pkg/version.BuildVersion={CHAINSAW_VERSION}"
    localcluster.run(
        ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), "."], cwd=src, env=env, tag="chainsaw"
    )
    tmp.rename(folder / "chainsaw")
    shutil.rmtree(src, ignore_errors=True)  # the module cache keeps the sources


def find(build: bool = True) -> str | None:
    return localcluster.find_tool("OTEL_OPERATOR_CHAINSAW", cached(), build_chainsaw, allow_build=build)


GATEWAY_API_VERSION = "v1.2.1"  # upstream v0.158's hack/install-gateway-api-crds.sh


def gateway_api_crds() -> list[Path]:
    """Gateway API's standard CRDs, from the module's zip on the Go module proxy (its config/crd/standard is the
    release's standard-install.yaml, split by CRD), cached by version. None without Go: the httproute test then
    fails for want of them, as it would on upstream's CI without that step."""
    folder = localcluster.cache_root() / f"gomod-gateway-api-{GATEWAY_API_VERSION}"
    crd_dir = folder / f"sigs.k8s.io/gateway-api@{GATEWAY_API_VERSION}/config/crd/standard"
    if not crd_dir.is_dir():
        if shutil.which("go") is None:
            log("no Go: Gateway API's CRDs are not installed")
            return []
        env = dict(localcluster.go_env(), GOMODCACHE=str(folder))
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["go", "mod", "download", f"sigs.k8s.io/gateway-api@{GATEWAY_API_VERSION}"],
                           cwd=tmp, env=env, check=True)  # fmt: skip
        subprocess.run(["chmod", "-R", "u+w", str(folder)], check=False)  # the module cache is read-only
    return sorted(crd_dir.glob("gateway.networking.k8s.io_*.yaml"))


def log(msg: str) -> None:
    localcluster.log(msg, "chainsaw")


def chainsaw_or_exit() -> str:
    path = find()
    if path is None:
        sys.exit(f"chainsaw {CHAINSAW_VERSION} is not cached and Go is not installed to build it")
    return path


# --------------------------------------------------------------------------- upstream's tests


def tests_root() -> Path:
    """Upstream's tests/ folder, extracted from the source tarball into the cache once."""
    dest = localcluster.cache_root() / f"upstream-e2e-{UPSTREAM_VERSION}"
    if (dest / ".complete").exists():
        return dest / "tests"
    if not TARBALL.exists():
        sys.exit(f"upstream's source tarball is missing: {TARBALL} (set OTEL_OPERATOR_UPSTREAM_TARBALL)")
    log(f"extracting upstream's tests from {TARBALL} into {dest} (once)")
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(TARBALL) as tar:
        members = []
        for m in tar.getmembers():
            parts = m.name.split("/", 1)
            if len(parts) == 2 and parts[1].startswith("tests/"):
                m.name = parts[1]
                members.append(m)
        tar.extractall(tmp, members=members, filter="data")
    (tmp / ".complete").write_text(UPSTREAM_VERSION + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest / "tests"


CAP = 1  # minutes: the longest explicit timeout a test may keep (upstream's wait-for-telemetry waits 5m)
REAL_NODE_CAP = 3  # where telemetry really flows


def capped_copy(tests: Path, dest: Path, cap: int = CAP) -> Path:
    """A copy of the tests whose explicit `timeout: Nm` (N > 1) are cut to CAP: they wait for telemetry that the
    stand-in kubelet's pods never send, and would make a failure cost minutes. Upstream pins chainsaw v0.2.15, whose
    `script.shell: /bin/bash` v0.2.12 refuses: that line goes too (scripts run with bash all the same, see
    run_suite). The pristine copy stays cached."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(tests, dest, symlinks=True)
    for path in dest.rglob("*.yaml"):
        text = path.read_text(errors="replace")
        cut = re.sub(r"(\btimeout:\s*)(\d+)m\b", lambda m: m.group(1) + f"{min(int(m.group(2)), cap)}m", text)
        cut = re.sub(r"^[ \t]+shell:[ \t]*/bin/bash[ \t]*\n", "", cut, flags=re.M)  # v0.2.15's; see run_suite
        if cut != text:
            path.write_text(cut)
    return dest


# --------------------------------------------------------------------------- the environment


class Env:
    """A local control plane with the CRDs, the kubelet stand-in or a real node (hack/realnode.py, with the images
    the tests name: hack/e2e_images.py), and (per suite) the operator."""

    def __init__(self, work: Path, webhooks: bool, real_node: bool = False) -> None:
        self.work, self.webhooks, self.real_node = work, webhooks, real_node
        self.cluster_dir = work / "cluster"
        self.kubectl = str(localcluster.kubectl_path() or sys.exit("no kubectl: python3 hack/localcluster.py build"))
        self.kubelet: subprocess.Popen[bytes] | None = None
        self.registry: Any = None  # e2e_images.Registry, imported only for the real node
        self.provisioner: Any = None  # e2e_provisioner.HostPathProvisioner, likewise
        self.operator: subprocess.Popen[bytes] | None = None
        self.kubeconfig = ""
        self.env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"KUBERC": "off"}

    def kc(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [self.kubectl, f"--kubeconfig={self.kubeconfig}", *args]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=self.env, check=check, timeout=120)

    def up(self) -> None:
        if self.real_node:
            import e2e_images
            import nodeimages
            import realnode

            cluster = realnode.up(self.cluster_dir)
            names = e2e_images.build_all()
            nodeimages.import_all(names=names)
            self.registry = e2e_images.Registry(self.work / "registry")
            self.registry.start()
            self.registry.mirror(realnode.registry_hosts(self.cluster_dir))
        else:
            cluster = localcluster.up(self.cluster_dir)
        self.kubeconfig = cluster.kubeconfig
        self.env["KUBECONFIG"] = self.kubeconfig
        crds = [
            *sorted((ROOT / "crds").glob("*.yaml")),
            *sorted((ROOT / "tests/data/standin-crds").glob("*.yaml")),
            *gateway_api_crds(),  # upstream's CI installs them (hack/install-gateway-api-crds.sh): the httproute test
        ]
        args = [a for p in crds for a in ("-f", str(p))]
        self.kc("apply", "--server-side", *args)
        self.kc("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        self.kc("create", "namespace", OPERATOR_NAMESPACE, check=False)
        if self.real_node:  # what upstream's kind cluster (kind-1.34.yaml) has beyond a bare node
            import e2e_provisioner
            import realnode

            self.kc("label", "node", realnode.NODE_NAME, "ingress-ready=true", "--overwrite")
            self.provisioner = e2e_provisioner.HostPathProvisioner(self.kc, self.work / "volumes")
            self.provisioner.start()
        else:
            self.kubelet_log = open(self.work / "kubelet.log", "wb")  # noqa: SIM115
            kubelet = [str(VENV / "python"), str(ROOT / "hack/e2e_standin_kubelet.py"), "kubelet"]
            self.kubelet = subprocess.Popen(
                [*kubelet, "--kubeconfig", self.kubeconfig],
                stdout=self.kubelet_log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )  # fmt: skip
        # kube-controller-manager's garbage collector finds new CRDs' kinds within 30 s of their creation; until then
        # deleting a collector would leave its objects behind
        log("waiting 30 s for the garbage collector to discover the CRDs")
        time.sleep(30)

    def start_operator(self, suite: str) -> None:
        self.stop_operator()
        cmd = [str(VENV / "otel-operator"), "run", "--kubeconfig", self.kubeconfig, *SUITE_ARGS.get(suite, [])]
        if self.real_node:  # the allocator pods run the project's image, built for the node
            import nodeimages

            cmd.append(f"--target-allocator-image={nodeimages.project_image()}")
        if self.webhooks:
            port = localcluster.free_port()
            url = f"https://127.0.0.1:{port}"
            subprocess.run(
                [str(VENV / "python"), str(ROOT / "hack/e2e_standin_kubelet.py"), "webhooks", "--kubeconfig",
                 self.kubeconfig, "--url", url, "--name", WEBHOOKS, "--namespace", OPERATOR_NAMESPACE],
                env=self.env, check=True,
            )  # fmt: skip
            cmd += [
                "--webhooks", f"--webhook-port={port}", "--webhook-addr=127.0.0.1", "--webhook-host=127.0.0.1",
                f"--webhook-namespace={OPERATOR_NAMESPACE}", f"--webhook-configuration={WEBHOOKS}",
                f"--webhook-cert-dir={self.work / 'webhook-certs'}",
            ]  # fmt: skip
        self.operator_log = open(self.work / f"operator-{suite}.log", "wb")  # noqa: SIM115
        log("$ " + " ".join(cmd))
        self.operator = subprocess.Popen(
            cmd, stdout=self.operator_log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the webhooks answer (or, without them, the API takes a collector)
            if self.operator.poll() is not None:
                sys.exit(f"the operator exited with {self.operator.returncode}; see {self.operator_log.name}")
            if self.kc("apply", "--dry-run=server", "-f", "-", stdin=PROBE, check=False).returncode == 0:
                time.sleep(3)  # kopf's watches start beside the webhook server
                return
            time.sleep(1)
        sys.exit(f"the operator's webhooks did not answer within 90 s; see {self.operator_log.name}")

    def stop_operator(self) -> None:
        if self.operator is not None:
            _terminate(self.operator, 20)
        self.operator = None

    def down(self) -> None:
        self.stop_operator()
        if self.kubelet is not None:
            _terminate(self.kubelet, 10)
        if self.provisioner is not None:
            self.provisioner.stop()
        if self.real_node:
            import realnode

            realnode.down(self.cluster_dir)
            if self.registry is not None:
                self.registry.stop()
        else:
            localcluster.down(self.cluster_dir)


# --------------------------------------------------------------------------- running and reporting


def one_line(err: str, limit: int = 300) -> str:
    """chainsaw's error on one line: the object and the failed fields (`* path: message`), without the diff."""
    lines = []
    for raw in err.strip().splitlines():
        line = raw.strip()
        if line.startswith("--- expected"):
            break
        if line and not re.fullmatch(r"-+", line):
            lines.append(line)
    text = " | ".join(lines)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(report: dict, suite: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for test in report.get("tests") or []:
        key = f"{suite}/{test.get('name')}"
        if test.get("skipped"):
            out[key] = "skipped"
            continue
        verdict = "pass"
        for step in test.get("steps") or []:
            for op in step.get("operations") or []:
                failure = (op.get("failure") or {}).get("error")
                if failure and verdict == "pass":
                    verdict = f"fail: {step.get('name')}/{op.get('type')}: {one_line(failure)}"
        out[key] = verdict
    return out


TEST_NAME = re.compile(r"^metadata:[ \t]*\n(?:[ \t]+.*\n)*?[ \t]+name:[ \t]*['\"]?([^'\"\s]+)", re.M)


STEP_FILE = re.compile(r"^\d+-.*\.ya?ml$")


def discover(folder: Path) -> list[tuple[str, Path, dict[str, str]]]:
    """(chainsaw name, folder, labels) of every test under `folder`, as chainsaw finds them: each Test document of a
    chainsaw-test.yaml, or else step files (`00-install.yaml`, `01-assert.yaml`, ...: a test named after its folder).
    Labels: only the `key: value` lines of the Test's metadata.labels (what SUITE_SELECTOR needs)."""
    found = []
    for sub in sorted([folder, *(p for p in folder.rglob("*") if p.is_dir())]):
        test = sub / "chainsaw-test.yaml"
        if test.exists():
            for doc in re.split(r"^---[ \t]*$", test.read_text(errors="replace"), flags=re.M):
                match = TEST_NAME.search(doc)
                if match is None:
                    continue
                block = re.search(r"^  labels:[ \t]*\n((?:    .*\n)*)", doc, re.M)
                labels = (
                    dict(re.findall(r"^    ([\w./-]+):[ \t]*['\"]?([^'\"\s]*)", block.group(1), re.M)) if block else {}
                )
                found.append((match.group(1), sub, labels))
        elif any(STEP_FILE.match(p.name) for p in sub.iterdir() if p.is_file()):
            found.append((sub.name.lower().replace("_", "-"), sub, {}))
    return found


def run_suite(chainsaw: str, env: Env, tests: Path, suite: str, names: list[str]) -> dict[str, str]:
    """Each test of the suite in a chainsaw of its own: one test chainsaw cannot load (a field newer than v0.2.12)
    then fails alone instead of the whole suite."""
    folder = tests / suite
    if not folder.is_dir():
        return {f"{suite}/*": f"fail: no such suite {folder}"}
    selector = SUITE_SELECTOR.get(suite, {})
    results: dict[str, str] = {}
    selected = []
    for name, test_dir, labels in discover(folder):
        if names and name not in names:
            continue
        if all(labels.get(k) == v for k, v in selector.items()):
            selected.append((name, test_dir))
        else:
            wanted = ",".join(f"{k}={v}" for k, v in selector.items())
            results[f"{suite}/{name}"] = f"skipped: upstream runs only {wanted} on Kubernetes >= 1.29"
    if not selected:
        return results
    env.start_operator(suite)
    # v0.2.12 runs every script with `sh -c` (v0.2.15's `shell:` field is dropped by capped_copy): `sh` is bash here
    shim = env.work / "bin"
    shim.mkdir(exist_ok=True)
    if not (shim / "sh").exists():
        (shim / "sh").symlink_to(shutil.which("bash") or "/bin/bash")
    path = os.pathsep.join([str(shim), str(Path(env.kubectl).parent), env.env.get("PATH", "")])
    cwd = env.work / "cwd"  # an empty working directory: no .chainsaw.yaml of anyone's is read
    cwd.mkdir(exist_ok=True)
    timeouts = REAL_NODE_TIMEOUTS if env.real_node else TIMEOUTS
    for name, test_dir in selected:
        report_name = f"{suite}--{name}"
        cmd = [
            chainsaw, "test", "--test-dir", str(test_dir), "--include-test-regex", f"chainsaw/^{re.escape(name)}$",
            "--parallel", "1", "--no-color", *(f"--{k}-timeout={v}" for k, v in timeouts.items()),
            "--force-termination-grace-period=0s",
            "--report-format", "JSON", "--report-path", str(env.work), "--report-name", report_name,
            *(f"--selector={k}={v}" for k, v in selector.items()),
        ]  # fmt: skip
        started = time.monotonic()
        output = env.work / f"{report_name}.log"
        run_env = env.env | {"PATH": path}
        with open(output, "wb") as out, contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=run_env, cwd=cwd, timeout=900, check=False)
        report = env.work / f"{report_name}.json"
        if report.exists():
            verdict = summarize(json.loads(report.read_text()), suite).get(f"{suite}/{name}", "fail: not in the report")
        else:
            tail = [ln for ln in output.read_text(errors="replace").splitlines() if ln.startswith("Error:")]
            verdict = "fail: chainsaw ran nothing: " + (one_line(tail[-1]) if tail else f"see {output}")
        results[f"{suite}/{name}"] = verdict
        log(f"{suite}/{name}: {verdict[:150]} ({time.monotonic() - started:.0f} s)")
    return results


def print_table(results: dict[str, str]) -> None:
    width = max((len(k) for k in results), default=10)
    for name, verdict in results.items():
        print(f"{name:<{width}}  {verdict}")
    by_suite: dict[str, dict[str, int]] = {}
    for name, verdict in results.items():
        counts = by_suite.setdefault(name.split("/", 1)[0], {"passed": 0, "failed": 0, "skipped": 0})
        counts["passed" if verdict == "pass" else "skipped" if verdict.startswith("skipped") else "failed"] += 1
    print()
    for suite, counts in by_suite.items():
        print(f"{suite:<{width}}  " + ", ".join(f"{n} {what}" for what, n in counts.items() if n or what != "skipped"))


def run(args: argparse.Namespace) -> int:
    chainsaw = chainsaw_or_exit()
    work = Path(args.work or tempfile.mkdtemp(prefix="otel-operator-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    tests = capped_copy(tests_root(), work / "tests", REAL_NODE_CAP if args.real_node else CAP)
    report = Path(args.report or work / "summary.json")
    log(f"work folder (logs, chainsaw's reports): {work}")
    env = Env(work, webhooks=not args.no_webhooks, real_node=args.real_node)
    results: dict[str, str] = {}
    started = time.monotonic()

    def stop(signum: int, _frame: object) -> None:  # started in the background, SIGINT may be ignored: TERM too
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    try:
        env.up()
        for suite in args.suite or SUITES:
            results.update(run_suite(chainsaw, env, tests, suite, args.test or []))
            report.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        env.down()
    print_table(results)
    log(f"{len(results)} tests in {time.monotonic() - started:.0f} s; summary: {report}")
    return 0 if results and all(v == "pass" or v.startswith("skipped") for v in results.values()) else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build")
    sub.add_parser("find")
    r = sub.add_parser("run", help="run upstream's chainsaw suites against otel-operator on a local control plane")
    r.add_argument("--suite", action="append", help=f"a suite (repeatable; default: {', '.join(SUITES)})")
    r.add_argument("--test", action="append", help="only this test (its chainsaw name; repeatable)")
    r.add_argument("--report", help="the JSON summary {suite/test: verdict} (default: summary.json in the work folder)")
    r.add_argument("--work", help="folder for logs and chainsaw's reports (default: a new temporary one)")
    r.add_argument("--no-webhooks", action="store_true", help="run the operator without its admission webhooks")
    r.add_argument(
        "--real-node",
        action="store_true",
        help="pods really run: hack/realnode.py (root), images from hack/e2e_images.py",
    )
    args = parser.parse_args(argv)
    if args.command in ("build", "find"):
        path = find(build=args.command == "build")
        if path is None:
            print(
                f"chainsaw {CHAINSAW_VERSION} is not cached"
                + (" and Go is not installed" if args.command == "build" else "")
            )
            return 1
        print(path)
        return 0
    return run(args)


def _terminate(proc: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; reaped either way."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
