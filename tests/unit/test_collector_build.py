"""hack/collector.py without Go: the ocb manifest, where the binary is looked for, and the build's plumbing (a fake
`go` that installs a fake ocb, which writes a fake collector where the manifest says)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

import collector


def test_manifest_pins_every_component_to_the_collector_release(tmp_path: Path) -> None:
    doc = collector.manifest(tmp_path / "src")
    assert doc["dist"]["name"] == "otelcol"
    assert doc["dist"]["version"] == "0.158.0"
    assert doc["dist"]["output_path"] == str(tmp_path / "src")
    components = {kind: [m["gomod"] for m in doc[kind]] for kind in ("receivers", "exporters", "processors")}
    contrib = "github.com/open-telemetry/opentelemetry-collector-contrib"
    assert components == {
        "receivers": [
            f"{contrib}/receiver/prometheusreceiver v0.158.0",
            "go.opentelemetry.io/collector/receiver/otlpreceiver v0.158.0",  # the guide's collector has one
        ],
        "exporters": [
            f"{contrib}/exporter/fileexporter v0.158.0",
            "go.opentelemetry.io/collector/exporter/debugexporter v0.158.0",
        ],
        "processors": ["go.opentelemetry.io/collector/processor/batchprocessor v0.158.0"],
    }
    # the 1.x modules of the same release, and a file provider for --config=PATH
    providers = [m["gomod"] for m in doc["providers"]]
    assert all(p.endswith(" v1.64.0") for p in providers)
    assert "go.opentelemetry.io/collector/confmap/provider/fileprovider v1.64.0" in providers


def test_manifest_text_is_yaml_for_ocb(tmp_path: Path) -> None:
    text = collector.manifest_text(tmp_path)
    assert yaml.safe_load(text) == json.loads(text) == collector.manifest(tmp_path)


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize(
    ("env", "cached", "expected"),
    [
        ("/opt/otelcol", False, "/opt/otelcol"),  # the override wins, even unchecked
        ("/opt/otelcol", True, "/opt/otelcol"),
        (None, True, "cache"),
        (None, False, None),  # build=False: nothing cached is nothing found
    ],
)
def test_find_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None, cached: bool, expected: str | None
) -> None:
    monkeypatch.setenv("OTEL_OPERATOR_CACHE", str(tmp_path))
    if env is None:
        monkeypatch.delenv("OTEL_OPERATOR_OTELCOL", raising=False)
    else:
        monkeypatch.setenv("OTEL_OPERATOR_OTELCOL", env)
    binary = tmp_path / "otelcol-v0.158.0" / "otelcol"
    assert collector.cached() == binary
    if cached:
        binary.parent.mkdir(parents=True)
        executable(binary, "#!/bin/sh\n")
    found = collector.find(build=False)
    assert found == (str(binary) if expected == "cache" else expected)


FAKE_GO = """#!/bin/sh
# `go install MODULE@VERSION`: drop a fake ocb into $GOBIN and note what was asked
echo "$@" > "$GOBIN/go-args"
cat > "$GOBIN/builder" <<'EOF'
#!/usr/bin/env python3
import json, pathlib, sys
args = dict(a.split("=", 1) for a in sys.argv[1:])
config = json.loads(pathlib.Path(args["--config"]).read_text())
out = pathlib.Path(config["dist"]["output_path"])
(out / "main.go").write_text("package main\\n")
(out / config["dist"]["name"]).write_text("#!/bin/sh\\necho " + args["--ldflags"] + "\\n")
EOF
chmod +x "$GOBIN/builder"
"""


def test_build_installs_ocb_and_keeps_only_the_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "go", FAKE_GO)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("OTEL_OPERATOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OTEL_OPERATOR_OTELCOL", raising=False)
    path = collector.find(build=True)
    folder = tmp_path / "cache" / "otelcol-v0.158.0"
    assert path == str(folder / "otelcol")
    assert (folder / "otelcol").read_text() == "#!/bin/sh\necho -s -w\n"
    assert (folder / "tools" / "go-args").read_text().split() == [
        "install",
        "go.opentelemetry.io/collector/cmd/builder@v0.158.0",
    ]
    assert not (folder / "src").exists()  # the generated sources go once the binary is in place
    assert json.loads((folder / "builder.yaml").read_text())["dist"]["output_path"] == str(folder / "src")
    # a second find takes the cache, building nothing
    (folder / "tools" / "builder").unlink()
    assert collector.find(build=True) == path


def test_a_binary_built_with_other_components_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_OPERATOR_CACHE", str(tmp_path))
    monkeypatch.delenv("OTEL_OPERATOR_OTELCOL", raising=False)
    monkeypatch.setattr(collector.shutil, "which", lambda name: f"/usr/bin/{name}")
    builds: list[Path] = []

    def fake_build(folder: Path, dist: collector.Distribution = collector.TESTS) -> None:  # what build_collector leaves
        builds.append(folder)
        (folder / collector.BINARY).write_text("new")
        (folder / "components.json").write_text(collector.components_record(dist))

    monkeypatch.setattr(collector, "build_collector", fake_build)
    binary = collector.cached()
    binary.parent.mkdir(parents=True)
    binary.write_text("old")
    binary.chmod(0o755)
    (binary.parent / "components.json").write_text('{"components": {"receivers": ["prometheusreceiver"]}}')
    assert collector.find(build=False) == str(binary)  # not allowed to build: the old one still serves
    assert binary.read_text() == "old"
    assert collector.find() == str(binary)
    assert binary.read_text() == "new"
    assert builds == [binary.parent]
    binary.chmod(0o755)
    assert collector.find() == str(binary)  # up to date now: no second build
    assert builds == [binary.parent]


def test_the_upstream_e2e_collector_is_a_superset_cached_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_OPERATOR_CACHE", str(tmp_path))
    small, big = collector.TESTS, collector.UPSTREAM_E2E
    assert collector.cached(small) != collector.cached(big)
    assert collector.cached(small).parent.name == f"otelcol-{collector.OTELCOL_VERSION}"  # the tests' cache key kept
    for kind, modules in small.components.items():
        assert set(modules) <= set(big.components[kind])
    doc = collector.manifest(tmp_path, big)
    gomods = {entry["gomod"].split()[0].rsplit("/", 1)[-1] for kind in ("receivers", "exporters", "processors",
              "extensions") for entry in doc[kind]}  # fmt: skip
    # what upstream's chainsaw tests configure beyond the project's own
    assert {"filelogreceiver", "prometheusexporter", "memorylimiterprocessor", "healthcheckextension"} <= gomods
    assert collector.components_record(small) != collector.components_record(big)
