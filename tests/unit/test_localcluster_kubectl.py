"""kubectl beside the control-plane binaries: which builds `build` asks for, where `kubectl_path()` looks, what `up`
prints. The builds themselves are replaced by recorders (the real one is timed by hand; tests/integration/
test_kubectl.py runs the binary)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import localcluster

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "etcd")


def put(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(f"#!/bin/sh\necho {name}\n")
        (folder / name).chmod(0o755)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache of our own, no envtest folder in the way; the Kubernetes version's bin folder."""
    monkeypatch.setenv("OTEL_OPERATOR_CACHE", str(tmp_path))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    return tmp_path / f"k8s-{localcluster.KUBE_VERSION}" / "bin"


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str, ...]]]:
    """Every build asked for, as (route, binaries); each "builds" by writing those of them that are missing, as the
    real ones do (test_proxy_build_builds_only_the_missing checks that of the real one)."""
    calls: list[tuple[str, tuple[str, ...]]] = []

    def fake(route: str, folder: Path, names: tuple[str, ...]) -> Path:
        calls.append((route, names))
        put(folder, *localcluster.missing_binaries(folder, names))
        return folder

    def proxy(version: str, names: tuple[str, ...] = ()) -> Path:
        return fake("proxy", localcluster.cache_bin(version), names)

    def debian(names: tuple[str, ...] = ()) -> Path:
        return fake("debian", localcluster.cache_bin(localcluster.DEBIAN_KUBE_VERSION), names)

    monkeypatch.setattr(localcluster, "build_from_module_proxy", proxy)
    monkeypatch.setattr(localcluster, "build_from_debian_source", debian)
    return calls


@pytest.mark.parametrize(
    ("present", "kubectl", "expected"),
    [
        # a cache from before kubectl: only kubectl is built, and only when asked (`build`, not `up`)
        (CONTROL_PLANE, True, [("proxy", ("kubectl",))]),
        (CONTROL_PLANE, False, []),
        ((*CONTROL_PLANE, "kubectl"), True, []),
        # cold: all four in one build (one `go mod tidy`), or the control plane alone for `up`
        ((), True, [("proxy", (*CONTROL_PLANE, "kubectl"))]),
        ((), False, [("proxy", CONTROL_PLANE)]),
        # an incomplete control plane is not a usable cache
        (("kube-apiserver", "etcd", "kubectl"), False, [("proxy", CONTROL_PLANE)]),
    ],
)
def test_find_binaries_builds_only_what_is_missing(
    cache: Path,
    builds: list[tuple[str, tuple[str, ...]]],
    present: tuple[str, ...],
    kubectl: bool,
    expected: list[tuple[str, tuple[str, ...]]],
) -> None:
    put(cache, *present)
    before = {n: (cache / n).stat().st_mtime_ns for n in present}
    assert localcluster.find_binaries(kubectl=kubectl) == cache
    assert builds == expected
    # nothing that was there is rebuilt or touched
    assert {n: (cache / n).stat().st_mtime_ns for n in present} == before


def test_a_debian_cache_gains_its_own_kubectl(cache: Path, builds: list[tuple[str, tuple[str, ...]]]) -> None:
    debian = localcluster.cache_bin(localcluster.DEBIAN_KUBE_VERSION)
    put(debian, *CONTROL_PLANE)
    assert localcluster.find_binaries(kubectl=True) == debian
    assert builds == [("debian", ("kubectl",))]
    assert localcluster.kubectl_path() == debian / "kubectl"


def test_kubectl_failing_does_not_fall_back_to_route_2(
    cache: Path, builds: list[tuple[str, tuple[str, ...]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def proxy(version: str, names: tuple[str, ...] = ()) -> Path:
        put(localcluster.cache_bin(version), *CONTROL_PLANE)  # the control plane lands, then kubectl fails
        raise subprocess.CalledProcessError(1, ["go", "build"])

    monkeypatch.setattr(localcluster, "build_from_module_proxy", proxy)
    with pytest.raises(subprocess.CalledProcessError):
        localcluster.find_binaries(kubectl=True)
    assert builds == []  # no Debian build


def test_control_plane_failing_falls_back_to_route_2(
    cache: Path, builds: list[tuple[str, tuple[str, ...]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def proxy(version: str, names: tuple[str, ...] = ()) -> Path:
        raise subprocess.CalledProcessError(1, ["go", "mod", "tidy"])

    monkeypatch.setattr(localcluster, "build_from_module_proxy", proxy)
    debian = localcluster.cache_bin(localcluster.DEBIAN_KUBE_VERSION)
    assert localcluster.find_binaries(kubectl=True) == debian
    assert builds == [("debian", (*CONTROL_PLANE, "kubectl"))]


KUBE_GO_MOD = """module k8s.io/kubernetes
replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/kubectl => ./staging/src/k8s.io/kubectl
)
"""


@pytest.mark.parametrize(
    ("present", "built"),
    [
        (CONTROL_PLANE, ["kubectl"]),
        (("kube-apiserver", "etcd"), ["kube-controller-manager", "kubectl"]),
        ((), [*CONTROL_PLANE, "kubectl"]),
    ],
)
def test_proxy_build_builds_only_the_missing(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, present: tuple[str, ...], built: list[str]
) -> None:
    """The real route 1 with Go replaced by a recorder: which `go build`s run, what the throwaway module holds."""
    put(cache, *present)
    before = {n: (cache / n).read_text() for n in present}
    go_mod = tmp_path / "kubernetes.mod"
    go_mod.write_text(KUBE_GO_MOD)
    commands: list[list[str]] = []
    seen: dict[str, str] = {}

    def download(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert cmd[:3] == ["go", "mod", "download"]
        return subprocess.CompletedProcess(cmd, 0, stdout=f'{{"GoMod": "{go_mod}"}}', stderr="")

    def go(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        commands.append(cmd)
        assert cwd is not None
        if cmd[:3] == ["go", "mod", "tidy"]:
            seen.update({f.name: f.read_text() for f in cwd.rglob("*.go")} | {"go.mod": (cwd / "go.mod").read_text()})
        if cmd[:2] == ["go", "build"]:
            Path(cmd[cmd.index("-o") + 1]).write_text("built\n")

    monkeypatch.setattr(subprocess, "run", download)
    monkeypatch.setattr(localcluster, "run", go)
    assert localcluster.build_from_module_proxy(localcluster.KUBE_VERSION) == cache
    packages = [c[-1] for c in commands if c[:2] == ["go", "build"]]
    assert packages == [localcluster.PROXY_PACKAGES[n][0] for n in built]
    assert sum(c[:3] == ["go", "mod", "tidy"] for c in commands) == 1
    assert {n: (cache / n).read_text() for n in present} == before  # untouched
    assert all((cache / n).read_text() == "built\n" for n in built)
    assert ("main.go" in seen) == ("etcd" in built)  # etcd's main only when etcd is built
    assert "replace k8s.io/kubectl => k8s.io/kubectl v0.34.4" in seen["go.mod"]
    assert not (cache.parent / "src").exists()  # the throwaway module is gone


def test_nothing_missing_runs_no_go(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(cache, *CONTROL_PLANE, "kubectl")

    def no_go(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(subprocess, "run", no_go)
    assert localcluster.build_from_module_proxy(localcluster.KUBE_VERSION) == cache
    assert not (cache.parent / "src").exists()


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ((*CONTROL_PLANE, "kubectl"), "kubectl"),
        (CONTROL_PLANE, None),  # a cache from before kubectl
        (("kubectl",), None),  # no usable control plane: no kubectl of its version either
    ],
)
def test_kubectl_path_is_beside_the_control_plane(cache: Path, present: tuple[str, ...], expected: str | None) -> None:
    put(cache, *present)
    assert localcluster.kubectl_path() == (cache / expected if expected else None)


def test_kubectl_path_prefers_kubebuilder_assets(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(cache, *CONTROL_PLANE, "kubectl")
    assets = tmp_path / "envtest"
    put(assets, "kube-apiserver", "etcd", "kubectl")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))
    assert localcluster.kubectl_path() == assets / "kubectl"
    (assets / "kubectl").unlink()
    assert localcluster.kubectl_path() is None  # not the cache's: it may be another version


@pytest.mark.parametrize(
    ("names", "imports", "absent"),
    [
        (("kubectl",), ['_ "k8s.io/kubernetes/cmd/kubectl"'], ["kube-apiserver", "kube-controller-manager"]),
        (
            CONTROL_PLANE,
            ['_ "k8s.io/kubernetes/cmd/kube-apiserver/app"', '_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"'],
            ["kubectl"],
        ),
    ],
)
def test_tools_go_imports_only_what_is_built(names: tuple[str, ...], imports: list[str], absent: list[str]) -> None:
    text = localcluster.tools_go(names)
    assert text.startswith("//go:build tools\n\npackage tools\n")
    for line in imports:
        assert f"\t{line}\n" in text
    for word in absent:
        assert word not in text


def test_ldflags_stamp_the_version_kubectl_reports() -> None:
    flags = localcluster.kube_ldflags("v1.34.4").split()
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"{pkg}.gitVersion=v1.34.4" in flags
        assert f"{pkg}.gitMinor=34" in flags


@pytest.mark.parametrize(
    ("kubeconfig", "kubectl", "expected"),
    [
        (
            "/w/.cluster/kubeconfig",
            Path("/c/bin/kubectl"),
            "export KUBECONFIG=/w/.cluster/kubeconfig\nalias kubectl=/c/bin/kubectl",
        ),
        (
            "/my dir/kubeconfig",
            None,
            "export KUBECONFIG='/my dir/kubeconfig'\n"
            "# no kubectl of this version yet: python3 hack/localcluster.py build",  # the cache has none
        ),
    ],
)
def test_shell_hint_pastes(cache: Path, kubeconfig: str, kubectl: Path | None, expected: str) -> None:
    assert localcluster.shell_hint(kubeconfig, kubectl) == expected
