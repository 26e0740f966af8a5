"""The async shell of the polled service discoveries: one task per distinct config (jobs with the same entry share
it, as Prometheus's discovery manager shares providers), each reporting complete refreshes to one callback.

`Pollers.sync(configs)` starts what is new and stops what is gone; the callback gets (config, groups) with the
groups of one refresh (removals as empty groups), on the event loop. Errors are logged once per distinct message
and the last good groups stay, as in Prometheus.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp

from otel_operator.allocator.sd import dns, file, http
from otel_operator.allocator.sd.common import HTTPClient, SDRefreshError
from otel_operator.allocator.watch import cancel_all
from otel_operator.prom.model import TargetGroup

log = logging.getLogger("otel_operator.allocator.sd")

PolledSD = http.HttpSD | file.FileSD | dns.DnsSD
OnGroups = Callable[[PolledSD, list[TargetGroup]], None]
FILE_WATCH_INTERVAL = 1.0  # seconds between looks at a file SD's files (Prometheus: fsnotify)
USER_AGENT = "otel-operator-target-allocator"


class Pollers:
    def __init__(
        self,
        on_groups: OnGroups,
        *,
        resolv_conf: Callable[[], dns.ResolvConf] | None = None,
        ask: dns.Ask | None = None,
        file_watch_interval: float = FILE_WATCH_INTERVAL,
    ) -> None:
        self._on_groups = on_groups
        self._resolv_conf = resolv_conf or _system_resolv_conf
        self._ask = ask or dns.network_ask()
        self._file_watch_interval = file_watch_interval
        self._tasks: dict[PolledSD, asyncio.Task[None]] = {}
        self._logged: dict[PolledSD, str] = {}

    @property
    def running(self) -> frozenset[PolledSD]:
        return frozenset(self._tasks)

    def sync(self, configs: Iterable[PolledSD]) -> None:
        """Run exactly `configs` (call on the event loop)."""
        wanted = set(configs)
        for config in list(self._tasks):
            if config not in wanted:
                self._tasks.pop(config).cancel()
                self._logged.pop(config, None)
        for config in wanted - self._tasks.keys():
            self._tasks[config] = asyncio.create_task(self._run(config), name=f"{config.kind} poller")

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        await cancel_all(tasks)

    def _failed(self, config: PolledSD, err: Exception) -> None:
        message = str(err) or type(err).__name__
        if self._logged.get(config) != message:
            self._logged[config] = message
            log.error("%s: %s (keeping the last good targets)", _describe(config), message)

    def _ok(self, config: PolledSD) -> None:
        if self._logged.pop(config, None) is not None:
            log.info("%s: refreshing again", _describe(config))

    async def _run(self, config: PolledSD) -> None:
        if isinstance(config, http.HttpSD):
            await self._run_http(config)
        elif isinstance(config, file.FileSD):
            await self._run_file(config)
        else:
            await self._run_dns(config)

    # --- http ------------------------------------------------------------------------------------------------

    async def _run_http(self, config: http.HttpSD) -> None:
        previous = 0
        timeout = aiohttp.ClientTimeout(total=config.refresh_interval / 1000)
        async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT}) as session:
            while True:
                try:
                    groups = await _fetch_http(session, config)
                except (SDRefreshError, aiohttp.ClientError, TimeoutError, OSError, ssl.SSLError) as err:
                    self._failed(config, err)
                else:
                    self._ok(config)
                    self._on_groups(config, groups + http.removals(config.url, len(groups), previous))
                    previous = len(groups)
                await asyncio.sleep(config.refresh_interval / 1000)

    # --- file ------------------------------------------------------------------------------------------------

    async def _run_file(self, config: file.FileSD) -> None:
        state = file.FileState()
        seen: dict[str, tuple[int, int, int]] | None = None
        refresh_every = config.refresh_interval / 1000
        last_full = 0.0
        while True:
            stats = await asyncio.to_thread(_stat_files, config.files)
            now = time.monotonic()
            if stats != seen or now - last_full >= refresh_every:
                results = await asyncio.to_thread(_read_files, list(stats))
                for result in results.values():
                    if isinstance(result, SDRefreshError):
                        self._failed(config, result)
                if not any(isinstance(r, SDRefreshError) for r in results.values()):
                    self._ok(config)
                self._on_groups(config, state.refresh(results))
                seen, last_full = stats, now
            await asyncio.sleep(min(self._file_watch_interval, refresh_every))

    # --- dns -------------------------------------------------------------------------------------------------

    async def _run_dns(self, config: dns.DnsSD) -> None:
        while True:
            conf = await asyncio.to_thread(self._resolv_conf)
            results = await asyncio.gather(
                *(dns.lookup(conf, name, config.qtype, self._ask) for name in config.names), return_exceptions=True
            )
            groups: list[TargetGroup] = []
            failed = False
            for name, result in zip(config.names, results, strict=True):
                if isinstance(result, BaseException):
                    if isinstance(result, asyncio.CancelledError):
                        raise result
                    failed = True
                    self._failed(config, result if isinstance(result, Exception) else Exception(str(result)))
                    continue  # this name keeps its last group
                groups.append(dns.group_for(name, config.port, result))
            if not failed:
                self._ok(config)
            if groups:
                self._on_groups(config, groups)
            await asyncio.sleep(config.refresh_interval / 1000)


def _describe(config: PolledSD) -> str:
    if isinstance(config, http.HttpSD):
        return f"http_sd {config.url}"
    if isinstance(config, file.FileSD):
        return f"file_sd {', '.join(config.files)}"
    return f"dns_sd {config.type} {', '.join(config.names)}"


def _system_resolv_conf() -> dns.ResolvConf:
    try:
        return dns.parse_resolv_conf(Path(dns.RESOLV_CONF).read_text())
    except OSError:
        return dns.ResolvConf()


async def _fetch_http(session: aiohttp.ClientSession, config: http.HttpSD) -> list[TargetGroup]:
    client = config.client
    headers = dict(config.headers)
    auth = None
    if client.username or client.password or client.password_file:
        password = _read_secret(client.password_file) if client.password_file else client.password
        auth = aiohttp.BasicAuth(client.username, password)
    elif client.auth_type:
        credentials = _read_secret(client.credentials_file) if client.credentials_file else client.credentials
        headers["Authorization"] = f"{client.auth_type} {credentials}"
    kwargs: dict[str, Any] = {"headers": headers, "auth": auth, "allow_redirects": client.follow_redirects}
    if client.tls is not None:
        kwargs["ssl"] = _ssl_context(client)
        if client.tls.server_name:
            kwargs["server_hostname"] = client.tls.server_name
    async with session.get(config.url, **kwargs) as response:
        body = await response.read()
        return http.groups_from_response(config.url, response.status, response.headers.get("Content-Type", ""), body)


def _read_secret(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as err:
        raise SDRefreshError(f"cannot read {path}: {err}") from None


def _ssl_context(client: HTTPClient) -> ssl.SSLContext:
    tls = client.tls
    assert tls is not None
    ctx = ssl.create_default_context(cafile=tls.ca_file or None, cadata=tls.ca or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    elif tls.cert:  # ssl loads a chain only from files
        with tempfile.TemporaryDirectory() as folder:
            cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
            Path(cert).write_text(tls.cert)
            Path(key).write_text(tls.key)
            ctx.load_cert_chain(cert, key)
    return ctx


def _stat_files(patterns: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """Every file the patterns match now (in Go's Glob order: sorted), with what tells a change."""
    out: dict[str, tuple[int, int, int]] = {}
    for pattern in patterns:
        for path in sorted(glob.glob(pattern, include_hidden=True)):
            try:
                st = os.stat(path)  # follows symlinks: a ConfigMap's ..data swap changes the inode
            except OSError:
                continue
            out[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return out


def _read_files(paths: list[str]) -> dict[str, list[TargetGroup] | SDRefreshError]:
    out: dict[str, list[TargetGroup] | SDRefreshError] = {}
    for path in paths:
        try:
            content = Path(path).read_bytes()
        except OSError as err:
            out[path] = SDRefreshError(f"{path}: {err}")
            continue
        try:
            out[path] = file.parse_file(path, content)
        except SDRefreshError as err:
            out[path] = err
    return out
