#!/usr/bin/env python3
"""Container images for the real node (hack/realnode.py), built here because no container registry is reachable.

  python3 hack/nodeimages.py build     build what is missing or stale, print the image names
  python3 hack/nodeimages.py import    also load them into containerd's CRI namespace (containerd must be running)
  python3 hack/nodeimages.py project [--base IMAGE] [--push REF]
                                       only the project's image (`make image`), on the local Debian base or IMAGE;
                                       --push tags it REF and pushes it

- `localhost/debian-python:bookworm`: Debian 12 + Python from Debian's packages (mmdebstrap, minbase), a venv at
  /opt/py. Stands in for python:3.12-slim-bookworm; the rootfs tarball is cached by recipe.
- the project's image, from the real Dockerfile with `--build-arg PYTHON_IMAGE=` that base (the published default
  stays); rebuilt when the sources it copies change.
- `localhost/pause:local`: the pod sandbox (registry.k8s.io/pause cannot be pulled): a few lines of Go.
- the OpenTelemetry Collector (hack/collector.py's ocb binary) in a FROM-scratch image.
- the troubleshooting guide's app (examples/py-prometheus-app), under the image name the guide gives it.

Each image carries a label with the hash of what it was built from, so a rebuild happens only on change; podman
builds, `podman save | ctr images import` moves them into containerd. Standard library only, like localcluster.py.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import collector
import localcluster

ROOT = Path(__file__).resolve().parent.parent
BASE = "localhost/debian-python:bookworm"
PAUSE = "localhost/pause:local"
COLLECTOR = f"localhost/otelcol-e2e:{collector.OTELCOL_VERSION[1:]}"
APP = "docker.io/library/otel-target-allocator-talk:0.1.0-py-prometheus-app"  # the guide's image name
HASH_LABEL = "org.otel-operator.source-hash"
DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")

PAUSE_GO = """package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

// PID 1 of a pod sandbox: wait for a stop signal, reap orphans meanwhile.
func main() {
\tsigs := make(chan os.Signal, 8)
\tsignal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
\tfor s := range sigs {
\t\tif s != syscall.SIGCHLD {
\t\t\tos.Exit(0)
\t\t}
\t\tfor {
\t\t\tvar ws syscall.WaitStatus
\t\t\tif pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
\t\t\t\tbreak
\t\t\t}
\t\t}
\t}
}
"""


def log(msg: str) -> None:
    print(f"[nodeimages] {msg}", file=sys.stderr, flush=True)


def cache() -> Path:
    folder = localcluster.cache_root() / "node-images"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def project_image() -> str:
    """The chart's default image name (values.yaml image.repository, appVersion), so the chart runs it unchanged."""
    chart = (ROOT / "charts" / "otel-operator" / "Chart.yaml").read_text()
    values = (ROOT / "charts" / "otel-operator" / "values.yaml").read_text()
    app_version = next(line.split(":", 1)[1].strip().strip("\"'") for line in chart.splitlines()
                       if line.startswith("appVersion:"))  # fmt: skip
    repository = next(line.split(":", 1)[1].strip() for line in values.splitlines()
                      if line.startswith("  repository:"))  # fmt: skip
    return f"{repository}:{app_version}"


def containers_conf() -> Path:
    """podman's settings for this machine: no CAP_SYS_RESOURCE, so rlimits stay within the current hard limits
    (podman itself runs with NPROC 32768); runc with cgroupfs, as crun refuses the hybrid cgroup layout."""
    import resource

    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    conf = cache() / "containers.conf"
    conf.write_text(
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'runtime = "runc"\n'
    )
    return conf


def podman(*args: str, capture: bool = False) -> str:
    env = dict(os.environ, CONTAINERS_CONF=str(containers_conf()))
    if not capture:
        localcluster.log("$ podman " + " ".join(args), "nodeimages")
    out = subprocess.run(["podman", *args], env=env, check=True, text=True, capture_output=capture)
    return out.stdout.strip() if capture else ""


def image_hash(image: str) -> str | None:
    """The source hash an image was built from (None: no such image)."""
    try:
        return podman("image", "inspect", "--format", f'{{{{index .Labels "{HASH_LABEL}"}}}}', image, capture=True)
    except subprocess.CalledProcessError:
        return None


def generated(path: Path) -> bool:
    """Byte code and pip's editable-install metadata: not sources, and not in the image (.dockerignore)."""
    return any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)


def digest(*parts: bytes | Path) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(p for p in part.rglob("*") if p.is_file() and not generated(p))
            for f in files if part.is_dir() else [part]:
                h.update(str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f.name).encode())
                h.update(f.read_bytes())
        else:
            h.update(part)
    return h.hexdigest()[:16]


def host_mirror() -> str:
    """The Debian mirror this machine's apt already uses (deb822 or one-line sources)."""
    for source in [*Path("/etc/apt/sources.list.d").glob("*.sources"), Path("/etc/apt/sources.list")]:
        if not source.exists():
            continue
        for line in source.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("URIs:", "deb"):
                return words[1]
    return "http://deb.debian.org/debian"


def bootstrap(image: str, prefix: str, packages: tuple[str, ...], hooks: list[str], changes: list[str]) -> None:
    """A Debian minbase image with `packages` (mmdebstrap from the host's mirror), its rootfs tarball cached by
    recipe; `changes` are podman import's Containerfile lines (ENV, CMD, ...)."""
    recipe = digest(f"{DEBIAN_SUITE} {' '.join(packages)} v1".encode())
    if image_hash(image) == recipe:
        return
    tarball = cache() / f"{prefix}-{DEBIAN_SUITE}-{recipe}.tar"
    if not tarball.exists():
        log(f"bootstrapping Debian {DEBIAN_SUITE} + {', '.join(packages)} (mmdebstrap, once; cached: {tarball.parent})")
        tmp = tarball.with_suffix(".tmp")
        hooks = [*hooks, 'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*']
        command = ["nice", "-n", "10", "mmdebstrap", "--variant=minbase", f"--include={','.join(packages)}"]
        command += [f"--customize-hook={hook}" for hook in hooks]
        command += ["--format=tar", DEBIAN_SUITE, str(tmp), host_mirror()]
        localcluster.run(command, tag="nodeimages")
        tmp.rename(tarball)
    args = [a for change in [*changes, f"LABEL {HASH_LABEL}={recipe}"] for a in ("--change", change)]
    podman("import", *args, str(tarball), image)


def build_base() -> None:
    hooks = [
        # the machine's own CAs (an egress proxy's among them), so pip in the image build reaches PyPI
        'mkdir -p "$1/usr/local/share/ca-certificates"; '
        'cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true; '
        'chroot "$1" update-ca-certificates',
        'chroot "$1" python3 -m venv /opt/py',
    ]
    changes = [
        "ENV PATH=/opt/py/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
        "ENV LANG=C.UTF-8",
        'CMD ["python3"]',
    ]
    bootstrap(BASE, "debian-python", BASE_PACKAGES, hooks, changes)


def base_identity() -> bytes:
    """The base image as the images built on it see it: its name and its recipe's hash, so they follow a rebuild."""
    return f"{BASE}@{image_hash(BASE)}".encode()


def build_context(image: str, files: dict[str, Path | bytes], containerfile: str, source_hash: str) -> None:
    """podman build of a small image from `files` (name → path or content)."""
    if image_hash(image) == source_hash:
        return
    with tempfile.TemporaryDirectory(prefix="nodeimage-") as tmp:
        for name, content in files.items():
            target = Path(tmp, name)
            if isinstance(content, Path):
                shutil.copy2(content, target)
            else:
                target.write_bytes(content)
        Path(tmp, "Containerfile").write_text(containerfile + f"LABEL {HASH_LABEL}={source_hash}\n")
        podman("build", "-q", "--network", "none", "-t", image, tmp)


def build_pause() -> None:
    source = digest(PAUSE_GO.encode())
    if image_hash(PAUSE) == source:
        return
    binary = cache() / f"pause-{source}"
    if not binary.exists():
        with tempfile.TemporaryDirectory(prefix="pause-") as work:
            Path(work, "main.go").write_text(PAUSE_GO)
            Path(work, "go.mod").write_text("module pause\n\ngo 1.22\n")
            localcluster.run(
                ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), "."],
                cwd=Path(work),
                env=localcluster.go_env(),
                tag="nodeimages",
            )
    build_context(
        PAUSE,
        {"pause": binary},
        'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n',
        source,
    )


def build_collector() -> None:
    binary = collector.find()
    if binary is None:
        raise SystemExit("no OpenTelemetry Collector binary: run `make collector`")
    source = digest(Path(binary))
    build_context(
        COLLECTOR,
        {"otelcol": Path(binary)},
        # the upstream images' shape: the binary as entrypoint, the operator passes --config=...
        'FROM scratch\nCOPY otelcol /otelcol\nUSER 10001:10001\nENTRYPOINT ["/otelcol"]\n',
        source,
    )


def build_app() -> None:
    app = ROOT / "examples" / "py-prometheus-app"
    source = digest(app, base_identity())
    build_context(
        APP,
        {"app.py": app / "app.py"},
        f'FROM {BASE}\nCOPY app.py /app/app.py\nUSER 65532:65532\nEXPOSE 8080\nCMD ["python3", "/app/app.py"]\n',
        source,
    )


def build_project(base: str | None = None) -> None:
    image = project_image()
    copied = (ROOT / "Dockerfile", ROOT / "pyproject.toml", ROOT / "README.md", ROOT / "operator")  # what it COPYs
    # the recipe's version: archives of images built the old way (a cached install layer, below) are not reused
    source = digest(*copied, base_identity() if base is None else base.encode(), b"recipe 2: --no-cache")
    if image_hash(image) == source:
        return
    # podman's storage does not outlive a CI machine, the cache does: keep the image's archive by source hash, as
    # its build is the one that downloads (pip)
    archive = cache() / f"otel-operator-{source}.tar"
    if archive.exists():
        podman("load", "-q", "-i", str(archive))
        if image_hash(image) == source:
            return
    log(f"building {image} from the Dockerfile on {base or BASE} (pip reaches PyPI through the host network)")
    podman(
        # --no-cache: the second stage's install layer mounts the wheels from the first, and the layer cache does
        # not see that mount's content: a cached layer would keep the wheels of an older source. Any source change
        # reruns `pip wheel` (after COPY operator) anyway, so this costs nothing more.
        "build", "-q", "--no-cache", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base or BASE}",
        "--label", f"{HASH_LABEL}={source}", "-t", image, str(ROOT),
    )  # fmt: skip
    for old in cache().glob("otel-operator-*.tar"):
        old.unlink()
    tmp = archive.with_suffix(".tmp")
    podman("save", "-q", "--format", "docker-archive", "-o", str(tmp), image)
    tmp.rename(archive)


def images() -> list[str]:
    return [PAUSE, project_image(), COLLECTOR, APP]


def build_all() -> list[str]:
    for tool in ("podman", "mmdebstrap", "go"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (apt-get install podman mmdebstrap; Go for the pause image)")
    build_base()
    build_pause()
    build_collector()
    build_app()
    build_project()
    return images()


def import_all(namespace: str = "k8s.io", names: list[str] | None = None) -> None:
    """Load each image (default: the node's, images()) into containerd unless containerd already holds this exact
    image (same config digest)."""
    for image in images() if names is None else names:
        image_id = podman("image", "inspect", "--format", "{{.Id}}", image, capture=True)
        listed = subprocess.run(
            ["ctr", "-n", namespace, "images", "ls", f"name=={image}"], capture_output=True, text=True, check=False
        ).stdout
        stamp = cache() / "imported" / hashlib.sha256(image.encode()).hexdigest()[:16]
        if image in listed and stamp.exists() and stamp.read_text() == image_id:
            continue
        log(f"importing {image} into containerd")
        save = subprocess.Popen(
            ["podman", "save", "--format", "docker-archive", image],
            stdout=subprocess.PIPE,
            env=dict(os.environ, CONTAINERS_CONF=str(containers_conf())),
        )
        subprocess.run(["ctr", "-n", namespace, "images", "import", "-"], stdin=save.stdout, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        if save.wait() != 0:
            raise SystemExit(f"podman save {image} failed")
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(image_id)


def main(argv: list[str]) -> int:
    if argv[:1] == ["project"]:
        parser = argparse.ArgumentParser(prog="nodeimages.py project", description="build the project's image")
        parser.add_argument("--base", help="the Dockerfile's PYTHON_IMAGE (default: the Debian base made here)")
        parser.add_argument("--push", metavar="REF", help="tag the image as REF and push it there")
        args = parser.parse_args(argv[1:])
        tools = ("podman",) if args.base else ("podman", "mmdebstrap")
        for tool in tools:
            if shutil.which(tool) is None:
                raise SystemExit(f"{tool} is missing (apt-get install {' '.join(tools)})")
        if args.base is None:
            build_base()
        build_project(args.base)
        image = project_image()
        if args.push:
            podman("tag", image, args.push)
            podman("push", args.push)
            image = args.push
        print(image)
        return 0
    if argv not in (["build"], ["import"]):
        print(__doc__, file=sys.stderr)
        return 2
    names = build_all()
    if argv == ["import"]:
        import_all()
    print("\n".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
