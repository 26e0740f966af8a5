#!/usr/bin/env python3
"""The images upstream's chainsaw tests name, built here under those names for the real node (hack/chainsaw.py
--real-node), as no registry is reachable. Each stands in for the original with what the tests use of it:

- `mirror.gcr.io/alpine/curl:latest`, `mirror.gcr.io/library/busybox:latest` and `.../library/alpine:latest`:
  Debian minbase with curl and busybox (the tests run `/bin/sh -c` scripts of curl, grep, seq, sleep, echo;
  Debian's sh is dash);
- upstream's `e2e-test-app-metrics-basic-auth:main`: hack/upstream_e2e_apps/metrics_basic_auth.py on the Python base
  (`/metrics` on 9123 behind the tests' basic-auth credentials), and `e2e-test-app-python:main`:
  hack/upstream_e2e_apps/python_app.py ("Hi" on 8080);
- telemetrygen under the tag the tests pin (v0.124.1): v0.160.0's, the nearest release the module proxy here
  serves (neither v0.124.1 nor v0.158.0 is);
- the operator's default collector image name: hack/collector.py's `upstream-e2e` distribution (the components the
  tests configure), so collectors the tests create without `spec.image` run it as upstream's CI runs its default;
  also as `opentelemetry-collector-k8s:latest` and `-contrib:latest`, the names tests fall back to when they cannot
  read the operator's Deployment log for its version (with only the components above, not contrib's hundreds).

  python3 hack/e2e_images.py build     build what is missing or stale, print the image names
  python3 hack/e2e_images.py import    also load them into containerd's CRI namespace (containerd must be running)

The tests' `:latest` images are pulled (imagePullPolicy Always): `Registry` serves them all from Debian's
docker-registry on loopback, and containerd's hosts.toml for each registry name points there and nowhere else, so a
pull never leaves the machine.

Standard library only, like nodeimages.py, whose helpers (podman, the hash label, the cache) it uses.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import collector
import localcluster
import nodeimages

HERE = Path(__file__).resolve().parent
CURL = "mirror.gcr.io/alpine/curl:latest"
BUSYBOX = "mirror.gcr.io/library/busybox:latest"
ALPINE = "mirror.gcr.io/library/alpine:latest"  # init and extra containers: sh -c 'echo ...; sleep ...'

TOOLS_PACKAGES = ("curl", "ca-certificates", "busybox")
BASIC_AUTH_APP = "ghcr.io/open-telemetry/opentelemetry-operator/e2e-test-app-metrics-basic-auth:main"
PYTHON_APP = "ghcr.io/open-telemetry/opentelemetry-operator/e2e-test-app-python:main"
TELEMETRYGEN_TAG = "v0.124.1"  # what the tests pin
TELEMETRYGEN_VERSION = "v0.160.0"  # what is built: the proxy here serves neither the pinned one nor v0.158.0
TELEMETRYGEN = f"ghcr.io/open-telemetry/opentelemetry-collector-contrib/telemetrygen:{TELEMETRYGEN_TAG}"
TELEMETRYGEN_MODULE = f"{collector.CONTRIB}/cmd/telemetrygen"
# the operator's default (otel_operator.manifests.DEFAULT_COLLECTOR_IMAGE); hack/ does not import the package
COLLECTOR_REPOSITORY = "ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector"
COLLECTOR = f"{COLLECTOR_REPOSITORY}:{collector.OTELCOL_VERSION[1:]}"
# tests that read the version off the operator's Deployment log (there is none here) fall back to this name
COLLECTOR_K8S_LATEST = f"{COLLECTOR_REPOSITORY}-k8s:latest"
COLLECTOR_CONTRIB_LATEST = f"{COLLECTOR_REPOSITORY}-contrib:latest"
SCRATCH_BINARY = 'FROM scratch\nCOPY {name} /{name}\nWORKDIR /\nUSER 10001:10001\nENTRYPOINT ["/{name}"]\n'


def log(msg: str) -> None:
    print(f"[e2e-images] {msg}", file=sys.stderr, flush=True)


def images() -> list[str]:
    return [CURL, BUSYBOX, ALPINE, BASIC_AUTH_APP, PYTHON_APP, TELEMETRYGEN, COLLECTOR, COLLECTOR_K8S_LATEST,
            COLLECTOR_CONTRIB_LATEST]  # fmt: skip


def build_tools() -> None:
    path = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    nodeimages.bootstrap(CURL, "debian-tools", TOOLS_PACKAGES, [], [path, 'CMD ["sh"]'])
    nodeimages.podman("tag", CURL, BUSYBOX)
    nodeimages.podman("tag", CURL, ALPINE)


def build_app(image: str, script: str, port: int) -> None:
    """One of upstream's test apps: a standard-library stand-in from hack/upstream_e2e_apps on the Python base."""
    app = HERE / "upstream_e2e_apps" / script
    nodeimages.build_context(
        image,
        {"app.py": app},
        f"FROM {nodeimages.BASE}\nCOPY app.py /app/app.py\nUSER 65532:65532\nEXPOSE {port}\n"
        'CMD ["python3", "/app/app.py"]\n',
        nodeimages.digest(app, nodeimages.base_identity()),
    )


def build_basic_auth_app() -> None:
    build_app(BASIC_AUTH_APP, "metrics_basic_auth.py", 9123)


def telemetrygen_binary() -> Path:
    binary = localcluster.cache_root() / f"telemetrygen-{TELEMETRYGEN_VERSION}" / "telemetrygen"
    if not binary.exists():
        log(f"building telemetrygen {TELEMETRYGEN_VERSION} from the Go module proxy (once)")
        env = dict(localcluster.go_env(), GOBIN=str(binary.parent))
        localcluster.run(["go", "install", f"{TELEMETRYGEN_MODULE}@{TELEMETRYGEN_VERSION}"], env=env, tag="e2e-images")
    return binary


def build_scratch(image: str, binary: Path, name: str) -> None:
    nodeimages.build_context(image, {name: binary}, SCRATCH_BINARY.format(name=name), nodeimages.digest(binary))


def build_all() -> list[str]:
    for tool in ("podman", "mmdebstrap", "go"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (apt-get install podman mmdebstrap; Go for the binaries)")
    nodeimages.build_base()
    build_tools()
    build_basic_auth_app()
    build_app(PYTHON_APP, "python_app.py", 8080)
    build_scratch(TELEMETRYGEN, telemetrygen_binary(), "telemetrygen")
    otelcol = collector.find(dist=collector.UPSTREAM_E2E)
    if otelcol is None:
        raise SystemExit("no OpenTelemetry Collector: python3 hack/collector.py build upstream-e2e")
    build_scratch(COLLECTOR, Path(otelcol), "otelcol")
    nodeimages.podman("tag", COLLECTOR, COLLECTOR_K8S_LATEST)
    nodeimages.podman("tag", COLLECTOR, COLLECTOR_CONTRIB_LATEST)
    return images()


class Registry:
    """Debian's docker-registry on 127.0.0.1, holding images(): the pull-through of every registry name they use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = localcluster.free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise SystemExit("docker-registry is missing (apt-get install docker-registry): the tests pull :latest")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.yml"
        config.write_text(
            f"version: 0.1\nlog: {{level: warn}}\nhttp: {{addr: {self.address}}}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.folder / 'data'}}}}}\n"
        )
        log_file = open(self.folder / "registry.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([binary, "serve", str(config)], stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"docker-registry did not start; see {log_file.name}") from None
                time.sleep(0.3)
        for image in images():
            _host, path = image.split("/", 1)
            nodeimages.podman("push", "-q", "--tls-verify=false", image, f"{self.address}/{path}")

    def mirror(self, hosts_dir: Path) -> None:
        """containerd's hosts.toml for each registry name the images carry: this registry, no fallback."""
        for host in sorted({image.split("/", 1)[0] for image in images()}):
            folder = hosts_dir / host
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "hosts.toml").write_text(
                f'server = "http://{self.address}"\n\n[host."http://{self.address}"]\n'
                '  capabilities = ["pull", "resolve"]\n'
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def main(argv: list[str]) -> int:
    if argv not in (["build"], ["import"]):
        print(__doc__, file=sys.stderr)
        return 2
    names = build_all()
    if argv == ["import"]:
        nodeimages.import_all(names=names)
    print("\n".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
