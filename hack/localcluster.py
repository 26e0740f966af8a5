#!/usr/bin/env python3
"""A real Kubernetes control plane on loopback: kube-apiserver + etcd (+ kube-controller-manager).

Standard library only, so it runs before any virtualenv exists (CI's first step builds with it).

  python3 hack/localcluster.py build            find or build the binaries (kubectl too), print their folder
  python3 hack/localcluster.py up [--dir D]     start them on free ports, write D/kubeconfig
  python3 hack/localcluster.py down [--dir D]   stop what `up` started (by PID) and remove its data
  python3 hack/localcluster.py up --node        the same with a real node, so pods run (hack/realnode.py; root)

Where the binaries come from, first match wins:
  1. $KUBEBUILDER_ASSETS (envtest's convention: a folder with kube-apiserver and etcd);
  2. the cache, $OTEL_OPERATOR_CACHE or ~/.cache/otel-operator, keyed by Kubernetes version;
  3. route 1: build KUBE_VERSION with Go from the module proxy (a throwaway module in the cache);
  4. route 2: Kubernetes 1.20 from Debian's source package, when route 1 fails.

kubectl, of the same version, lives beside them (`kubectl_path()`). `build` adds it to a cache that lacks it
without touching the control-plane binaries; `up` never builds it, so starting a cluster stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

KUBE_VERSION = "v1.34.4"
DEBIAN_KUBE_VERSION = "v1.20.2"
TOKEN = "otel-operator-local-admin-token"
SERVICE_CIDR = "10.0.0.0/24"
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd")  # the control plane: these make a cache usable
KUBECTL = "kubectl"
# binary → (what `go build` builds, what tools.go imports so `go mod tidy` requires its dependencies: None when the
# package is the throwaway module's own)
PROXY_PACKAGES: dict[str, tuple[str, str | None]] = {
    "kube-apiserver": ("k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver/app"),
    "kube-controller-manager": (
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-controller-manager/app",
    ),
    "etcd": ("./cmd/etcd", None),
    KUBECTL: ("k8s.io/kubernetes/cmd/kubectl", "k8s.io/kubernetes/cmd/kubectl"),  # a thin main over k8s.io/kubectl
    # a real node (hack/realnode.py): same version as the control plane, same cache folder
    "kubelet": ("k8s.io/kubernetes/cmd/kubelet", "k8s.io/kubernetes/cmd/kubelet/app"),
    "kube-scheduler": ("k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler/app"),
}
NODE_BINARIES = ("kubelet", "kube-scheduler")
DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".cluster"


def log(msg: str, tag: str = "localcluster") -> None:
    """A progress line on stderr, prefixed with the tool that writes it (Helm's build says [helm], not ours)."""
    print(f"[{tag}] {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    env = os.environ.get("OTEL_OPERATOR_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "otel-operator"


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, tag: str = "localcluster") -> None:
    log("$ " + " ".join(cmd), tag)
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


# --------------------------------------------------------------------------- finding and building


def binaries_complete(folder: Path, need: tuple[str, ...] = BINARIES) -> bool:
    return all(os.access(folder / b, os.X_OK) for b in need)


def missing_binaries(folder: Path, want: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(b for b in want if not os.access(folder / b, os.X_OK))


def cache_bin(version: str) -> Path:
    return cache_root() / f"k8s-{version}" / "bin"


def cached_binaries() -> Path | None:
    """The folder `up` would run the control plane from, without building anything (None: nothing usable yet)."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        folder = Path(assets)
        if not binaries_complete(folder, ("kube-apiserver", "etcd")):
            raise SystemExit(f"KUBEBUILDER_ASSETS={assets} lacks kube-apiserver or etcd")
        return folder
    for version in (KUBE_VERSION, DEBIAN_KUBE_VERSION):
        if binaries_complete(cache_bin(version)):
            return cache_bin(version)
    return None


def kubectl_path() -> Path | None:
    """The kubectl beside the control plane's binaries, so of their Kubernetes version (None: not built yet; `python3
    hack/localcluster.py build` builds it)."""
    folder = cached_binaries()
    return folder / KUBECTL if folder is not None and not missing_binaries(folder, (KUBECTL,)) else None


def find_binaries(build: bool = True, kubectl: bool = False) -> Path:
    """The control plane's folder, built when no cache is usable; `kubectl` also builds kubectl into it if missing."""
    want = (*BINARIES, KUBECTL) if kubectl else BINARIES
    folder = cached_binaries()
    if folder is not None:
        if kubectl and missing_binaries(folder, (KUBECTL,)):
            add_kubectl(folder)
        return folder
    if not build:
        raise SystemExit("no control-plane binaries cached; run `python3 hack/localcluster.py build`")
    try:
        return build_from_module_proxy(KUBE_VERSION, want)
    except (subprocess.CalledProcessError, OSError) as err:
        if not missing_binaries(cache_bin(KUBE_VERSION), BINARIES):
            raise  # the control plane is built; only kubectl failed, which route 2 would not mend
        log(f"route 1 (Go module proxy, {KUBE_VERSION}) failed: {err}; trying Debian's {DEBIAN_KUBE_VERSION}")
        return build_from_debian_source(want)


def add_kubectl(folder: Path) -> None:
    """Build kubectl alone into a cache made without it, by the route that made the cache (same version)."""
    if folder == cache_bin(KUBE_VERSION):
        build_from_module_proxy(KUBE_VERSION, (KUBECTL,))
    elif folder == cache_bin(DEBIAN_KUBE_VERSION):
        build_from_debian_source((KUBECTL,))
    else:  # someone else's folder ($KUBEBUILDER_ASSETS): not ours to add to
        log(f"{folder} has no kubectl; put one of {binary_version(folder)} there to use it")


def go_env() -> dict[str, str]:
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false")
    env.setdefault("GOTOOLCHAIN", "local")
    return env


def find_tool(env_var: str, binary: Path, build: Callable[[Path], None], *, allow_build: bool = True) -> str | None:
    """A test tool's path: $env_var, else the cached `binary`, else built into its folder (None: neither cached nor
    buildable, for want of Go)."""
    if env := os.environ.get(env_var):
        return env
    if os.access(binary, os.X_OK):
        return str(binary)
    if not allow_build or shutil.which("go") is None:
        return None
    build(binary.parent)
    return str(binary)


def go_build_from_proxy(
    folder: Path,
    *,
    label: str,
    module: str,
    version: str,
    package: str,
    binary: str,
    ldflags: Callable[[str], str],
    tags: str = "",
    tag: str = "localcluster",
) -> None:
    """Build `package` of `module@version` from the Go module proxy into `folder/binary`, through a throwaway module
    that requires it: `go install pkg@version` refuses modules with replace directives, so those are carried over,
    with the Go version the module asks for. `ldflags` gets the module's own go.mod text."""
    work = folder / "src"
    work.mkdir(parents=True, exist_ok=True)
    env = go_env()
    log(f"building {label} from the Go module proxy in {work} (once)", tag)
    meta = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    upstream = Path(json.loads(meta.stdout)["GoMod"]).read_text()
    replaces = re.findall(r"^replace .+$", upstream, re.M)
    go = re.search(r"^go (\S+)$", upstream, re.M)
    (work / "go.mod").write_text(
        f"module {binary}tool\n\ngo {go.group(1) if go else '1.25'}\n\nrequire {module} {version}\n\n"
        + "\n".join(replaces)
        + "\n"
    )
    (work / "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{package}"\n')
    run(["go", "mod", "tidy"], cwd=work, env=env, tag=tag)
    tmp = folder / f".{binary}.{os.getpid()}.tmp"  # per process: two builds at once must not share it
    tag_args = ["-tags", tags] if tags else []
    run(
        ["go", "build", "-trimpath", *tag_args, "-ldflags", ldflags(upstream), "-o", str(tmp), package],
        cwd=work,
        env=env,
        tag=tag,
    )
    tmp.rename(folder / binary)
    shutil.rmtree(work, ignore_errors=True)  # the module cache keeps the sources


def staging_replacements(kube_mod: str, version: str) -> list[str]:
    """Every `k8s.io/x => ./staging/...` of kubernetes' go.mod, pointed at the published module v0.Y.Z."""
    staging_version = "v0." + version.split(".", 1)[1]
    names = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", kube_mod, re.M)
    if not names:
        raise OSError("no staging replacements found in kubernetes' go.mod")
    return [f"replace {n} => {n} {staging_version}" for n in sorted(set(names))]


def tools_go(names: tuple[str, ...]) -> str:
    """tools.go of the throwaway module: imports only what `names` need, so building kubectl alone does not make
    `go mod tidy` fetch etcd's or the control plane's dependencies."""
    imports = sorted({imp for n in names if (imp := PROXY_PACKAGES[n][1]) is not None})
    body = "".join(f'\t_ "{imp}"\n' for imp in imports)
    return f"//go:build tools\n\npackage tools\n\nimport (\n{body})\n"


def kube_ldflags(version: str) -> str:
    # what Kubernetes' hack/lib/version.sh stamps: kubectl reports component-base's, client-go puts its own in the
    # User-Agent
    minor = version.split(".")[1]
    stamps = {"gitVersion": version, "gitMajor": "1", "gitMinor": minor, "gitTreeState": "clean"}
    pkgs = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    return "-s -w" + "".join(f" -X {pkg}.{key}={val}" for pkg in pkgs for key, val in stamps.items())


def build_from_module_proxy(version: str, names: tuple[str, ...] = (*BINARIES, KUBECTL)) -> Path:
    """Build those of `names` that the version's cache lacks; the ones there stay as they are."""
    root = cache_root() / f"k8s-{version}"
    work, out = root / "src", root / "bin"
    names = missing_binaries(out, names)
    if not names:
        return out
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    env = go_env()
    log(f"building {', '.join(names)} {version} from the Go module proxy in {work} (a few minutes, once)")
    meta = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
        cwd=work if (work / "go.mod").exists() else tempfile.gettempdir(),
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    kube_mod = Path(json.loads(meta.stdout)["GoMod"]).read_text()
    lines = ["module localcluster", "", "go 1.24", "", f"require k8s.io/kubernetes {version}", ""]
    lines += staging_replacements(kube_mod, version)
    (work / "go.mod").write_text("\n".join(lines) + "\n")
    if "etcd" in names:
        etcd_main = work / "cmd" / "etcd" / "main.go"
        etcd_main.parent.mkdir(parents=True, exist_ok=True)
        etcd_main.write_text(
            'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
            "func main() { etcdmain.Main(os.Args) }\n"
        )
    (work / "tools.go").write_text(tools_go(names))
    run(["go", "mod", "tidy"], cwd=work, env=env)
    ldflags = kube_ldflags(version)
    for name in names:  # each lands (renamed into place) on its own: a failure later keeps the ones built
        pkg = PROXY_PACKAGES[name][0]
        tmp = out / f".{name}.{os.getpid()}.tmp"
        run(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), pkg], cwd=work, env=env)
        tmp.rename(out / name)
    shutil.rmtree(work, ignore_errors=True)  # the module cache keeps the sources; the binaries are what we need
    return out


def build_from_debian_source(names: tuple[str, ...] = (*BINARIES, KUBECTL)) -> Path:
    """Route 2: Debian 12's `kubernetes` source package (1.20.2), built with Debian's Go 1.19 (those of `names` the
    cache lacks; etcd is Debian's etcd-server)."""
    root = cache_root() / f"k8s-{DEBIAN_KUBE_VERSION}"
    out, work = root / "bin", root / "src"
    names = missing_binaries(out, names)
    if not names:
        return out
    out.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise SystemExit("route 2 needs apt-get (run as root) or a KUBEBUILDER_ASSETS folder")
    pkgs = [
        "golang-go",
        "make",
        "rsync",
        "dpkg-dev",
        "etcd-server",
        "golang-github-modern-go-reflect2-dev",
        "golang-github-json-iterator-go-dev",
    ]
    run(["apt-get", "update", "-qq"])
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs])
    # A private apt configuration adds bookworm's deb-src line without touching /etc/apt.
    apt = root / "apt"
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text("deb-src http://deb.debian.org/debian bookworm main\n")
    opts = [
        "-o",
        f"Dir::Etc::SourceList={apt / 'sources.list'}",
        "-o",
        "Dir::Etc::SourceParts=-",
        "-o",
        f"Dir::State::Lists={apt / 'lists'}",
    ]
    run(["apt-get", *opts, "update"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run(["apt-get", *opts, "source", "--download-only", "kubernetes"], cwd=work)
    dsc = next(work.glob("kubernetes_*.dsc"))
    run(["dpkg-source", "-x", dsc.name, "tree"], cwd=work)
    tree = work / "tree"
    for mod in ("github.com/modern-go/reflect2", "github.com/json-iterator/go"):
        dst = tree / "vendor" / mod
        shutil.rmtree(dst)
        shutil.copytree(
            Path("/usr/share/gocode/src") / mod, dst, ignore=shutil.ignore_patterns("*_test.go"), symlinks=False
        )
    gopath = work / "gopath"
    (gopath / "src" / "k8s.io").mkdir(parents=True)
    (gopath / "src" / "k8s.io" / "kubernetes").symlink_to(tree)
    go119 = "/usr/lib/go-1.19/bin"
    env = dict(
        os.environ,
        GOPATH=str(gopath),
        GO111MODULE="off",
        CGO_ENABLED="0",
        PATH=f"{go119}:{os.environ['PATH']}",
        GOFLAGS="",
    )
    made = [n for n in names if n != "etcd"]
    if made:
        run(
            ["make", "WHAT=" + " ".join(f"cmd/{n}" for n in made)],
            cwd=gopath / "src" / "k8s.io" / "kubernetes",
            env=env,
        )
        built = tree / "_output" / "local" / "bin" / "linux" / "amd64"
        if not built.exists():
            built = next(tree.glob(f"_output/**/{made[0]}")).parent
        for name in made:
            shutil.copy2(built / name, out / name)
    if "etcd" in names:
        shutil.copy2(shutil.which("etcd") or "/usr/bin/etcd", out / "etcd")
    shutil.rmtree(work, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- starting and stopping


@dataclass
class Cluster:
    dir: str
    kubeconfig: str
    server: str
    pids: dict[str, int] = field(default_factory=dict)
    data_dir: str = ""
    version: str = ""
    controller_manager: bool = False
    node: bool = False  # started for a real node (hack/realnode.py): in-cluster clients get tokens and CAs

    def save(self) -> None:
        Path(self.dir, "cluster.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, folder: Path) -> Cluster | None:
        state = folder / "cluster.json"
        return cls(**json.loads(state.read_text())) if state.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], what: str, logfile: Path, timeout: float = 90) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = logfile.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{what} exited with {proc.returncode}; end of {logfile}:\n{tail}")
        try:
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise SystemExit(f"{what} not healthy at {url} after {timeout}s; see {logfile}")


def spawn(cmd: list[str], logfile: Path) -> subprocess.Popen[bytes]:
    with open(logfile, "wb") as fh:
        # own session: a Ctrl-C in the caller's terminal does not reach it; `down` stops it by PID
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def binary_version(bindir: Path) -> str:
    out = subprocess.run([str(bindir / "kube-apiserver"), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().split()[-1] if out.returncode == 0 and out.stdout.strip() else "unknown"


def up(folder: Path, controller_manager: bool = True, node: bool = False) -> Cluster:
    """Start etcd, kube-apiserver and (unless told not to) kube-controller-manager on loopback.

    node=True prepares the control plane for pods that really run (hack/realnode.py): ServiceAccount admission on,
    so pods get tokens; the apiserver reaches kubelets by InternalIP (the node's name resolves nowhere); the
    controller manager publishes the apiserver's self-signed certificate as kube-root-ca.crt.
    """
    existing = Cluster.load(folder)
    if existing and all(pid_alive(p) for p in existing.pids.values()):
        log(f"already running: {existing.server}")
        print(shell_hint(existing.kubeconfig), file=sys.stderr, flush=True)
        return existing
    bindir = find_binaries()
    folder.mkdir(parents=True, exist_ok=True)
    pki = folder / "pki"
    pki.mkdir(exist_ok=True)
    sa_key, sa_pub = pki / "sa.key", pki / "sa.pub"
    if not sa_key.exists():
        run(["openssl", "genrsa", "-out", str(sa_key), "2048"])
        run(["openssl", "rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)])
    tokens = folder / "tokens.csv"
    tokens.write_text(f'{TOKEN},admin,admin,"system:masters"\n')
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    data_dir = tempfile.mkdtemp(prefix="otel-operator-etcd-", dir=shm)
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    cluster = Cluster(
        dir=str(folder),
        kubeconfig=str(folder / "kubeconfig"),
        server=f"https://127.0.0.1:{api_port}",
        data_dir=data_dir,
        version=binary_version(bindir),
        controller_manager=False,
        node=node,
    )

    etcd_cmd = [
        str(bindir / "etcd"),
        "--name",
        "local",
        "--data-dir",
        data_dir,
        "--listen-client-urls",
        f"http://127.0.0.1:{etcd_port}",
        "--advertise-client-urls",
        f"http://127.0.0.1:{etcd_port}",
        "--listen-peer-urls",
        f"http://127.0.0.1:{peer_port}",
        "--initial-advertise-peer-urls",
        f"http://127.0.0.1:{peer_port}",
        "--initial-cluster",
        f"local=http://127.0.0.1:{peer_port}",
    ]
    etcd_help = subprocess.run([str(bindir / "etcd"), "--help"], capture_output=True, text=True, check=False)
    if "--unsafe-no-fsync" in etcd_help.stdout + etcd_help.stderr:  # 3.5+: the data dir is in memory anyway
        etcd_cmd.append("--unsafe-no-fsync")
    etcd = spawn(etcd_cmd, folder / "etcd.log")
    cluster.pids["etcd"] = etcd.pid
    cluster.save()
    try:
        wait_etcd(etcd_port, etcd, folder / "etcd.log")
        api = spawn(
            [
                str(bindir / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={folder / 'pki'}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                # without a node no pod runs, so pods need no token; with one they do
                "--kubelet-preferred-address-types=InternalIP"
                if node
                else "--disable-admission-plugins=ServiceAccount",
            ],
            folder / "kube-apiserver.log",
        )
        cluster.pids["kube-apiserver"] = api.pid
        cluster.save()
        write_kubeconfig(Path(cluster.kubeconfig), cluster.server)
        wait_healthy(f"{cluster.server}/readyz", api, "kube-apiserver", folder / "kube-apiserver.log")
        kcm_bin = bindir / "kube-controller-manager"
        if controller_manager and os.access(kcm_bin, os.X_OK):
            kcm_port = free_port()
            kcm = spawn(
                [
                    str(kcm_bin),
                    f"--kubeconfig={cluster.kubeconfig}",
                    f"--authentication-kubeconfig={cluster.kubeconfig}",
                    f"--authorization-kubeconfig={cluster.kubeconfig}",
                    "--controllers=*",
                    "--use-service-account-credentials=false",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={sa_key}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={kcm_port}",
                    *([f"--root-ca-file={pki / 'apiserver.crt'}"] if node else []),
                ],
                folder / "kube-controller-manager.log",
            )
            cluster.pids["kube-controller-manager"] = kcm.pid
            cluster.controller_manager = True
            cluster.save()
            wait_healthy(
                f"https://127.0.0.1:{kcm_port}/healthz",
                kcm,
                "kube-controller-manager",
                folder / "kube-controller-manager.log",
            )
    except BaseException:
        down(folder)
        raise
    log(f"Kubernetes {cluster.version} up at {cluster.server}")
    print(shell_hint(cluster.kubeconfig), file=sys.stderr, flush=True)
    return cluster


def shell_hint(kubeconfig: str, kubectl: Path | None = None) -> str:
    """Lines to paste into a shell to use the cluster (no log prefix, so they paste as they are)."""
    kubectl = kubectl or kubectl_path()
    lines = [f"export KUBECONFIG={shlex.quote(kubeconfig)}"]
    if kubectl is None:
        lines.append("# no kubectl of this version yet: python3 hack/localcluster.py build")
    else:
        lines.append(f"alias kubectl={shlex.quote(str(kubectl))}")
    return "\n".join(lines)


def wait_etcd(port: int, proc: subprocess.Popen[bytes], logfile: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"etcd exited with {proc.returncode}; see {logfile}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if json.loads(resp.read()).get("health") == "true":
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"etcd not healthy after {timeout}s; see {logfile}")


def write_kubeconfig(path: Path, server: str) -> None:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: local\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n"
        f"users:\n- name: admin\n  user:\n    token: {TOKEN}\n"
        "contexts:\n- name: local\n  context:\n    cluster: local\n    user: admin\n"
        "current-context: local\n"
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours still answers kill(0): reap it if we can
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def down(folder: Path) -> None:
    cluster = Cluster.load(folder)
    if cluster is None:
        log(f"nothing running from {folder}")
        return
    # reverse start order: controllers first, etcd last
    for name, pid in reversed(list(cluster.pids.items())):
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not pid_alive(pid):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
            log(f"stopped {name} (pid {pid})")
    if cluster.data_dir:
        shutil.rmtree(cluster.data_dir, ignore_errors=True)
    Path(folder, "cluster.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="find or build the binaries and print their folder")
    for name in ("up", "down", "status"):
        p = sub.add_parser(name)
        p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state folder (default: %(default)s)")
        if name == "up":
            p.add_argument("--no-controller-manager", action="store_true")
            p.add_argument("--node", action="store_true", help="with a real node (hack/realnode.py)")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        print(find_binaries(kubectl=True))
    elif args.cmd == "up" and args.node:
        import realnode  # the node needs this module; this module only delegates to it

        print(realnode.up(args.dir.resolve()).kubeconfig)
    elif args.cmd == "up":
        cluster = up(args.dir.resolve(), controller_manager=not args.no_controller_manager)
        print(cluster.kubeconfig)
    elif args.cmd == "down" and (args.dir.resolve() / "node.json").exists():
        import realnode

        realnode.down(args.dir.resolve())
    elif args.cmd == "down":
        down(args.dir.resolve())
    else:
        state = Cluster.load(args.dir.resolve())
        if state is None or not all(pid_alive(p) for p in state.pids.values()):
            print("down")
            return 1
        print(json.dumps(asdict(state), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
