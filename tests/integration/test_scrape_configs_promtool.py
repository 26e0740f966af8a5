"""What `/scrape_configs` serves, loaded by Prometheus v3.14.0, the version the target allocator embeds and the
one that knows every field we fill (Debian's promtool 2.42 predates `enable_compression`, inline TLS and proxy
headers, and has no Kubernetes SD; tests/unit/allocator/test_scrape_configs.py checks what it can).

The oracle has no promtool, so the Prometheus binary itself is the check: it refuses to start on a config it
cannot load (exit 2, "Error loading config"), and once ready it builds each job's HTTP client when the job's first
targets arrive, which also parses inline TLS material. Two bodies are loaded: the full one, whose jobs with real
PEM material must all get their clients, and the redacted one, which must still load (a collector over plain HTTP
gets it) while its `<secret>` TLS key cannot make a client. No cluster is needed: Kubernetes SD fails to reach the
API server and is only logged.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_operator.allocator.scrape_configs import render_scrape_configs
from tests.integration.conftest import ROOT
from tests.unit.allocator import test_scrape_configs as unit
from tests.unit.prom import test_monitors_guide as guide

sys.path.insert(0, str(ROOT / "hack"))
import prometheus_oracle  # hack/ is not a package
from tests.tools import built_tool

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]  # a first run may build Prometheus

READY = "Server is ready to receive web requests."
POOL_ERROR = "error creating new scrape pool"
ORACLE_SD = ("static_configs", "file_sd_configs", "http_sd_configs", "kubernetes_sd_configs")  # what the build has
CANARY = "canary-bad-ca"  # its client fails in the same sync as every other job's: once it is logged, all were built


def prometheus_binary() -> str:
    return built_tool(prometheus_oracle.find(), f"Prometheus {prometheus_oracle.PROMETHEUS_VERSION}", "oracles")


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate and its key, as PEM text."""
    folder = tmp_path_factory.mktemp("pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=scrape-configs-oracle", "-days", "2",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (folder / "cert.pem").read_text(), (folder / "key.pem").read_text()


def real_tls_jobs(cert: str, key: str) -> dict[str, Any]:
    """Jobs whose HTTP clients Prometheus must be able to build from what we serve, plus the canary."""
    tls = {"ca": cert, "cert": cert, "key": key}
    target = [{"targets": ["127.0.0.1:1"]}]
    jobs: dict[str, Any] = {
        "tls-basic": {"scheme": "https", "tls_config": tls, "basic_auth": {"username": "u", "password": "pw"}},
        "tls-oauth2": {
            "tls_config": tls,
            "oauth2": {"client_id": "c", "client_secret": "pw", "token_url": "https://auth/token", "tls_config": tls},
            "proxy_url": "http://127.0.0.1:3128",
            "proxy_connect_header": {"X-Token": ["pw"]},
        },
        "tls-headers": {
            "tls_config": tls,
            "authorization": {"credentials": "pw"},
            "http_headers": {"X-Api-Key": {"values": ["v"], "secrets": ["pw"]}},
        },
        CANARY: {"tls_config": {"ca": "not a certificate"}},
    }
    return {name: {"job_name": name, "static_configs": target, **job} for name, job in jobs.items()}


# Kubernetes SD keys that are not its HTTP client's: with any other key and no api_server, Prometheus refuses the
# config ("to use custom HTTP client configuration please provide the 'api_server' URL explicitly").
K8S_SD_OWN_KEYS = ("role", "namespaces", "selectors", "attach_metadata", "kubeconfig_file", "api_server")


def refused_input(config: dict[str, Any]) -> bool:
    """A job Prometheus refuses whatever we serve: a Kubernetes SD with client settings and no api_server. The
    generator rejects such a ScrapeConfig (naming spec...apiServer), so none may reach here."""
    return any(
        "api_server" not in sd and set(sd) - set(K8S_SD_OWN_KEYS) for sd in config.get("kubernetes_sd_configs", [])
    )


def oracle_jobs(cert: str, key: str) -> dict[str, Any]:
    """Everything the unit tests serve, with the service discoveries the oracle build has, plus the real-TLS jobs."""
    jobs: dict[str, Any] = {**unit.secret_jobs(), **unit.relabel_job(), **unit.guide_jobs()}
    for number, case in enumerate(guide.ALL_CASES):
        for config in guide.run(case).scrape_configs:
            assert not refused_input(config), f"the generator let through {config['job_name']} (case {number})"
            name = f"{config['job_name']}/case{number}"
            jobs[name] = {**config, "job_name": name}
    for name, config in jobs.items():
        jobs[name] = {k: v for k, v in config.items() if not k.endswith("_configs") or k in ORACLE_SD or "relabel" in k}
    return {**jobs, **real_tls_jobs(cert, key)}


@contextlib.contextmanager
def prometheus(
    binary: str, configs: list[dict[str, Any]], folder: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Prometheus (agent mode) on a config of `configs`; stopped through its own process handle on the way out."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    # JSON is YAML: the served bytes' own structure, as the collector reads them
    config.write_text(json.dumps({"global": {"scrape_interval": "1m"}, "scrape_configs": configs}))
    log = folder / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                "--agent",
                f"--config.file={config}",
                f"--storage.agent.path={folder / 'data'}",
                "--web.listen-address=127.0.0.1:0",
                "--scrape.discovery-reload-interval=200ms",  # targets (and so the clients) right after start
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc, log
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_for_line(proc: subprocess.Popen[bytes], log: Path, text: str, within: float = 60) -> str:
    """The log once `text` appears in it; fails with the log if Prometheus exits or time runs out first."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        if proc.poll() is not None:
            pytest.fail(f"Prometheus exited ({proc.returncode}) before logging {text!r}:\n{content}")
        time.sleep(0.1)
    pytest.fail(f"Prometheus did not log {text!r} within {within}s:\n{log.read_text(errors='replace')}")


def pool_errors(log: str) -> dict[str, str]:
    """scrape pool → the error building its client."""
    out = {}
    for line in log.splitlines():
        if POOL_ERROR in line and "scrape_pool=" in line:
            out[line.rsplit("scrape_pool=", 1)[1].strip().strip('"')] = line
    return out


def test_prometheus_loads_the_full_body_and_builds_every_client(tmp_path: Path, pem: tuple[str, str]) -> None:
    jobs = oracle_jobs(*pem)
    assert len(jobs) >= 60
    served = json.loads(render_scrape_configs(jobs).full)
    with prometheus(prometheus_binary(), list(served.values()), tmp_path / "full") as (proc, log):
        wait_for_line(proc, log, READY)
        content = wait_for_line(proc, log, f"scrape_pool={CANARY}")
    errors = pool_errors(content)
    assert CANARY in errors
    for name in real_tls_jobs(*pem):
        if name != CANARY:
            assert name not in errors, errors[name]


def test_prometheus_loads_the_redacted_body(tmp_path: Path, pem: tuple[str, str]) -> None:
    jobs = oracle_jobs(*pem)
    served = json.loads(render_scrape_configs(jobs).redacted)
    with prometheus(prometheus_binary(), list(served.values()), tmp_path / "redacted") as (proc, log):
        wait_for_line(proc, log, READY)
        content = wait_for_line(proc, log, "scrape_pool=tls-basic")
    # the redacted TLS key is not a key: why a collector needs the full body (over HTTPS) for such jobs
    assert "failed to find any PEM data in key input" in pool_errors(content)["tls-basic"]


def test_prometheus_refuses_a_spoilt_body(tmp_path: Path) -> None:
    """The oracle has teeth: the regex upstream strips from keepequal rules (prometheus#12534) breaks the load."""
    served = json.loads(render_scrape_configs(unit.relabel_job()).full)
    for rule in served["relabel"]["relabel_configs"]:
        if rule["action"] == "keepequal":
            rule["regex"] = "(.*)"
    with prometheus(prometheus_binary(), list(served.values()), tmp_path / "spoilt") as (proc, log):
        code = proc.wait(60)
        content = log.read_text(errors="replace")
    assert code == 2, content
    assert "Error loading config" in content
    assert "keepequal action requires only 'source_labels' and `target_label`" in content
