#!/usr/bin/env python3
"""A real single-node cluster on this machine: the local control plane (localcluster.py) plus containerd, runc, a
kubelet and kube-scheduler, so pods really run.

  python3 hack/realnode.py build     kubelet + kube-scheduler (cached beside the control plane) and the node's images
                                     (--if-available: succeed, saying why, where no node can run)
  python3 hack/realnode.py up        bridge, containerd, images, control plane, nodenet, kubelet, scheduler
  python3 hack/realnode.py down      stop all of it, remove the pods' mounts, cgroups, addresses and the bridge
  python3 hack/realnode.py status    (each takes --dir D, the state folder; default .cluster/, like localcluster.py)

Needs root, containerd, runc, the CNI plugins, podman and mmdebstrap (`.ci/run` installs them).

Network: the pods sit on bridge otelnode0 (10.244.0.0/24; the node is 10.244.0.1) with routes only to the bridge and
to the Service range through the node: no default route, no masquerade, and net.ipv4.ip_forward stays as it is (0),
so no pod traffic can leave the machine. hack/nodenet.py gives the pods ClusterIPs and cluster DNS in userspace.

What this machine kind needs (../shared/reference/real-node.md): no CAP_SYS_RESOURCE, so runtime rlimits stay within
the hard limits, containerd restricts oom_score_adj and the kubelet keeps its own at 0; the cgroupfs driver on the
hybrid cgroup layout; images built locally (nodeimages.py), as no registry is reachable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster
import nodeimages

HERE = Path(__file__).resolve().parent
BRIDGE = "otelnode0"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
DNS_IP = "10.0.0.10"
NODE_NAME = "otel-node"
CNI_NAME = "otel-node"
KUBELET_ROOT = Path("/var/lib/kubelet")
CONTAINERD_SOCK = "/run/containerd/containerd.sock"
OWNER = Path("/run/otel-operator-node.json")  # one node per machine: which state folder holds it
SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops")  # the kubelet rewrites them at start
NODE_TOOLS = {"containerd": "containerd", "ctr": "containerd", "runc": "runc", "podman": "podman",
              "mmdebstrap": "mmdebstrap", "/usr/lib/cni/bridge": "containernetworking-plugins"}  # fmt: skip


def log(msg: str) -> None:
    print(f"[realnode] {msg}", file=sys.stderr, flush=True)


@dataclass
class Node:
    dir: str
    pids: dict[str, int] = field(default_factory=dict)

    def save(self) -> None:
        Path(self.dir, "node.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, folder: Path) -> Node | None:
        state = folder / "node.json"
        return cls(**json.loads(state.read_text())) if state.exists() else None


def missing_tools() -> list[str]:
    """Debian packages to install for the node (empty: everything is here)."""
    absent = {pkg for tool, pkg in NODE_TOOLS.items() if not (shutil.which(tool) or Path(tool).exists())}
    return sorted(absent)


def unavailable() -> str | None:
    """Why a node cannot start here (None: it can)."""
    if os.geteuid() != 0:
        return "the real node needs root (containerd, network namespaces, cgroups)"
    if missing := missing_tools():
        return f"missing Debian packages: {' '.join(missing)} (apt-get install them, or run .ci/run)"
    return None


def build() -> Path:
    """kubelet and kube-scheduler next to the control plane's binaries, same version; then the images."""
    bindir = localcluster.find_binaries(kubectl=True)
    if bindir != localcluster.cache_bin(localcluster.KUBE_VERSION):
        raise SystemExit(f"the real node needs the {localcluster.KUBE_VERSION} control plane from the Go module proxy, "
                         f"not {bindir}")  # fmt: skip
    if localcluster.missing_binaries(bindir, localcluster.NODE_BINARIES):
        localcluster.build_from_module_proxy(localcluster.KUBE_VERSION, localcluster.NODE_BINARIES)
    nodeimages.build_all()
    return bindir


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), check=check, text=True, capture_output=True)


def spawn(node: Node, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
    logfile = Path(node.dir, f"{name}.log")
    with open(logfile, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    node.pids[name] = proc.pid
    node.save()
    log(f"started {name} (pid {proc.pid}; log {logfile})")


def wait(what: str, ok: Callable[[], bool], node: Node, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        pid = node.pids.get(name)
        if pid and not localcluster.pid_alive(pid):
            break
        time.sleep(0.3)
    tail = Path(node.dir, f"{name}.log").read_text(errors="replace")[-3000:]
    raise SystemExit(f"{what} did not happen within {timeout}s; end of {node.dir}/{name}.log:\n{tail}")


# --------------------------------------------------------------------------- the pieces


def network_up(folder: Path) -> Path:
    if sh("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "replace", f"{NODE_IP}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    cni = folder / "cni"
    cni.mkdir(exist_ok=True)
    # isGateway false: the bridge plugin would switch ip_forward on; routes: the bridge and the Service range only
    conflist = {
        "cniVersion": "1.0.0",
        "name": CNI_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "routes": [{"dst": localcluster.SERVICE_CIDR, "gw": NODE_IP}],
                },
            }
        ],
    }
    (cni / "10-otel-node.conflist").write_text(json.dumps(conflist, indent=2))
    return cni


def registry_hosts(folder: Path) -> Path:
    """containerd's per-registry hosts.toml folder for the node of `folder` (nothing there: no registry reachable)."""
    return folder / "certs.d"


def containerd_up(node: Node, cni: Path) -> None:
    config = Path(node.dir, "containerd.toml")
    registry_hosts(Path(node.dir)).mkdir(exist_ok=True)
    disabled = ", ".join(f'"{p}"' for p in (
        "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
        "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
    ))  # fmt: skip
    config.write_text(f"""version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = [{disabled}]
[grpc]
  address = "{CONTAINERD_SOCK}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{nodeimages.PAUSE}"
  restrict_oom_score_adj = true   # no CAP_SYS_RESOURCE: a negative oom_score_adj makes runc fail
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{registry_hosts(Path(node.dir))}"   # empty unless a runner mirrors a registry (e2e_images.py)
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{shutil.which("runc") or "/usr/bin/runc"}"
""")
    spawn(node, "containerd", ["containerd", "--config", str(config)])
    wait("containerd answering", lambda: sh("ctr", "version", check=False).returncode == 0, node, "containerd", 30)
    nodeimages.import_all()


def kube_dns_service(kubectl: list[str]) -> None:
    """Reserve the cluster DNS address so no Service is allocated it (nodenet answers there)."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {"clusterIP": DNS_IP, "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]},
    }
    subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(manifest), text=True, check=True,
                   capture_output=True)  # fmt: skip


def node_ready(kubectl: list[str]) -> bool:
    out = subprocess.run(
        [*kubectl, "get", "node", NODE_NAME, "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.stdout.strip() == "True"


def kubelet_up(node: Node, bindir: Path, kubeconfig: str, kubectl: list[str]) -> None:
    config = Path(node.dir, "kubelet-config.yaml")
    manifests = Path(node.dir, "manifests")
    manifests.mkdir(exist_ok=True)
    config.write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
# the apiserver holds no kubelet client certificate: anonymous, so kubectl logs/exec work (the port is on the bridge)
authentication: {{anonymous: {{enabled: true}}, webhook: {{enabled: false}}}}
authorization: {{mode: AlwaysAllow}}
containerRuntimeEndpoint: unix://{CONTAINERD_SOCK}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
resolvConf: ""
clusterDNS: ["{DNS_IP}"]
clusterDomain: cluster.local
staticPodPath: {manifests}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {{memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}}
maxPods: 40
""")
    saved = {name: sh("sysctl", "-n", name).stdout.strip() for name in SYSCTLS}
    spawn(node, "kubelet", [
        str(bindir / "kubelet"), "--config", str(config), "--kubeconfig", kubeconfig,
        "--hostname-override", NODE_NAME, "--node-ip", NODE_IP, "--root-dir", str(KUBELET_ROOT), "--v=1",
    ])  # fmt: skip
    try:
        wait(f"node {NODE_NAME} Ready", lambda: node_ready(kubectl), node, "kubelet", 90)
    finally:
        sh("sysctl", "-q", "-w", *(f"{k}={v}" for k, v in saved.items()), check=False)


# --------------------------------------------------------------------------- up / down


def up(folder: Path) -> localcluster.Cluster:
    if reason := unavailable():
        raise SystemExit(reason)
    folder.mkdir(parents=True, exist_ok=True)
    existing = Node.load(folder)
    cluster = localcluster.Cluster.load(folder)
    pids = [*existing.pids.values(), *cluster.pids.values()] if existing and cluster else []
    if pids and all(localcluster.pid_alive(p) for p in pids):
        log(f"already running from {folder}")
        return cluster
    if OWNER.exists():
        other = Path(json.loads(OWNER.read_text())["dir"])
        state = Node.load(other)
        if other != folder and state and any(localcluster.pid_alive(p) for p in state.pids.values()):
            raise SystemExit(f"a real node is already running from {other}: hack/realnode.py down --dir {other}")
    down(folder, quiet=True)
    started = time.monotonic()
    bindir = build()
    node = Node(dir=str(folder))
    node.save()
    OWNER.write_text(json.dumps({"dir": str(folder)}))
    try:
        cni = network_up(folder)
        containerd_up(node, cni)
        cluster = localcluster.up(folder, node=True)
        kubectl = [str(localcluster.kubectl_path() or "kubectl"), "--kubeconfig", cluster.kubeconfig]
        kube_dns_service(kubectl)
        spawn(node, "nodenet", [sys.executable, str(HERE / "nodenet.py"), "--server", cluster.server,
                                "--bridge", BRIDGE, "--dns", DNS_IP])  # fmt: skip
        kubelet_up(node, bindir, cluster.kubeconfig, kubectl)
        spawn(node, "kube-scheduler", [
            str(bindir / "kube-scheduler"), f"--kubeconfig={cluster.kubeconfig}",
            f"--authentication-kubeconfig={cluster.kubeconfig}", f"--authorization-kubeconfig={cluster.kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
        ])  # fmt: skip
    except BaseException:
        down(folder)
        raise
    log(f"node {NODE_NAME} Ready in {time.monotonic() - started:.0f}s; pods on {BRIDGE} ({POD_CIDR})")
    return cluster


def stop(name: str, pid: int) -> None:
    if not localcluster.pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not localcluster.pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    log(f"stopped {name} (pid {pid})")


def down(folder: Path, quiet: bool = False) -> None:
    node = Node.load(folder)
    if node is None and not quiet:
        log(f"no node state in {folder}")
    pids = dict(node.pids) if node else {}
    for name in ("kube-scheduler", "kubelet", "nodenet"):
        if name in pids:
            stop(name, pids.pop(name))
    localcluster.down(folder)
    containerd = pids.pop("containerd", None)
    if containerd and localcluster.pid_alive(containerd):
        # the pods that were left: kill their tasks in the CRI namespace, then remove them
        for task in sh("ctr", "-n", "k8s.io", "tasks", "ls", "-q", check=False).stdout.split():
            sh("ctr", "-n", "k8s.io", "tasks", "kill", "-s", "KILL", task, check=False)
        time.sleep(1)
        for container in sh("ctr", "-n", "k8s.io", "containers", "ls", "-q", check=False).stdout.split():
            sh("ctr", "-n", "k8s.io", "tasks", "rm", "-f", container, check=False)
            sh("ctr", "-n", "k8s.io", "containers", "rm", container, check=False)
        stop("containerd", containerd)
    # the kubelet's mounts (its root bind-mounted on itself, projected tokens), deepest first; the pods' netns
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(KUBELET_ROOT))), reverse=True):
        if sh("umount", mount, check=False).returncode != 0:
            sh("umount", "-l", mount, check=False)
    for netns in Path("/run/netns").glob("cni-*"):
        sh("umount", str(netns), check=False)
        netns.unlink(missing_ok=True)
    for hierarchy in Path("/sys/fs/cgroup").glob("*"):
        for top in ("kubepods", "k8s.io"):
            if (hierarchy / top).is_dir():
                for d in sorted((p for p in (hierarchy / top).rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    d.rmdir() if not any(d.iterdir()) else None
                with contextlib.suppress(OSError):
                    (hierarchy / top).rmdir()
    sh("ip", "link", "del", BRIDGE, check=False)  # its addresses (the node's, ClusterIPs, DNS) go with it
    shutil.rmtree(KUBELET_ROOT, ignore_errors=True)
    shutil.rmtree(Path("/var/lib/cni/networks") / CNI_NAME, ignore_errors=True)
    Path(folder, "node.json").unlink(missing_ok=True)
    if OWNER.exists() and json.loads(OWNER.read_text()).get("dir") == str(folder):
        OWNER.unlink()
    if node and not quiet:
        log("down")


def status(folder: Path) -> int:
    node, cluster = Node.load(folder), localcluster.Cluster.load(folder)
    if node is None or cluster is None:
        print("down")
        return 1
    for name, pid in {**cluster.pids, **node.pids}.items():
        print(f"{name}: {'running' if localcluster.pid_alive(pid) else 'stopped'} (pid {pid})")
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="kubelet, kube-scheduler and the node's images")
    b.add_argument("--if-available", action="store_true", help="say why and succeed when no node can run here")
    for name in ("up", "down", "status"):
        p = sub.add_parser(name)
        p.add_argument("--dir", type=Path, default=localcluster.DEFAULT_DIR, help="state folder (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        if args.if_available and (reason := unavailable()):
            log(f"skipping the node's build: {reason}; tests/integration/test_real_node.py will skip")
            return 0
        print(build())
        return 0
    if args.cmd == "up":
        print(up(args.dir.resolve()).kubeconfig)
        return 0
    if args.cmd == "down":
        down(args.dir.resolve())
        return 0
    return status(args.dir.resolve())


if __name__ == "__main__":
    try:
        sys.exit(main())
    except urllib.error.URLError as err:
        raise SystemExit(f"realnode: {err}") from None
