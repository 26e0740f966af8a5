"""List+watch reflectors: keep an in-memory copy of one Kubernetes resource current, as plain JSON dicts.

A `Reflector` lists a resource (paged), hands the whole result to its sink, then watches from the list's
resourceVersion with bookmarks and resumes each watch where the last one stopped. A watch that is too old (410
Gone) leads to a fresh list; other failures to jittered exponential backoff (`next_backoff`, a pure function), whose
cap depends on the kind of failure: low for a server that is unreachable or unavailable (connection errors, 429,
5xx, as while an apiserver restarts), so a watch follows a restarted apiserver within a second or two whatever the
length of the outage, and long for a refusal that waits on a person (401, 403, other 4xx). A `Retry-After` (seconds
or an HTTP-date, bounded) is the least delay. Each change of failure is logged once, not every retry. A resource
whose API is not served (404: a CRD not installed) counts as synced and empty and is polled until it appears;
a 403 names the RBAC rule that is missing.

Objects are the API server's JSON exactly (camelCase keys), parsed with orjson, never turned into generated
models. List items get `kind` and `apiVersion`, which list responses leave out. Requests go through the
`ApiClient` (`call_api` without preloading), so its configuration authenticates them: a kubeconfig's bearer
token, client certificate or exec plugin, or the in-cluster service account, refreshed as it refreshes them.

The sink is called synchronously from the reflector's task, in the order the server sent the events, never
concurrently. Objects handed to it are shared with the reflector's cache: read them, do not change them.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol
from urllib.parse import quote

import aiohttp
import orjson

from otel_operator.allocator.kubeclient import Api

log = logging.getLogger("otel_operator.allocator.watch")

JSON = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects

EVENT_TYPES: Final = frozenset({"ADDED", "MODIFIED", "DELETED"})


@dataclass(frozen=True, slots=True)
class Resource:
    """One API resource: `group` is "" for the core API."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None) -> str:
        """The collection's URL path: every namespace when `namespace` is None (or the resource is cluster-scoped)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            base += f"/namespaces/{quote(namespace, safe='')}"
        return f"{base}/{self.plural}"

    def watch_path(self, name: str) -> str:
        """The watch path of one cluster-scoped object by name (`/api/v1/watch/namespaces/ns1`). Deprecated but
        served, and the only watch a namespaced Role can grant on its own Namespace: the API server authorizes it
        as being in that namespace, while a list with a metadata.name field selector is cluster-scoped."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/watch/{self.plural}/{quote(name, safe='')}"

    def rbac_rule(self) -> str:
        """The RBAC rule a reflector on this resource needs, as it would be written in a (Cluster)Role."""
        return f'{{apiGroups: ["{self.group}"], resources: ["{self.plural}"], verbs: ["list", "watch"]}}'

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}/{self.version}" if self.group else f"{self.plural}/{self.version}"


PODS: Final = Resource("", "v1", "pods", "Pod", namespaced=True)
SERVICES: Final = Resource("", "v1", "services", "Service", namespaced=True)
ENDPOINTS: Final = Resource("", "v1", "endpoints", "Endpoints", namespaced=True)
NAMESPACES: Final = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
NODES: Final = Resource("", "v1", "nodes", "Node", namespaced=False)
SECRETS: Final = Resource("", "v1", "secrets", "Secret", namespaced=True)
CONFIGMAPS: Final = Resource("", "v1", "configmaps", "ConfigMap", namespaced=True)
ENDPOINTSLICES: Final = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", namespaced=True)
INGRESSES: Final = Resource("networking.k8s.io", "v1", "ingresses", "Ingress", namespaced=True)
SERVICEMONITORS: Final = Resource("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor", namespaced=True)
PODMONITORS: Final = Resource("monitoring.coreos.com", "v1", "podmonitors", "PodMonitor", namespaced=True)
PROBES: Final = Resource("monitoring.coreos.com", "v1", "probes", "Probe", namespaced=True)
SCRAPECONFIGS: Final = Resource("monitoring.coreos.com", "v1alpha1", "scrapeconfigs", "ScrapeConfig", namespaced=True)


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until each has ended (whatever it raised on the way out)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class Sink(Protocol):
    """Where a reflector delivers what it sees. Both methods are called synchronously and never concurrently."""

    def on_replace(self, kind: str, objects: list[JSON], /) -> None:
        """The complete current state, after every full (re)list: everything not in `objects` is gone."""

    def on_event(self, kind: str, type: str, obj: JSON, /) -> None:
        """One change: `type` is ADDED, MODIFIED or DELETED (a DELETED object is its last state)."""


class WatchError(Exception):
    """The API server answered a list or watch with an error status (or sent an ERROR event); `retry_after` is
    the seconds it asked the client to wait (its Retry-After header, or the Status's `retryAfterSeconds`)."""

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class ResourceExpired(WatchError):
    """The resourceVersion to resume from is no longer available (410 Gone, or too large after a restore): re-list."""


class _RestartRequested(Exception):
    """Ends the current watch stream when `Reflector.restart_watch` is called."""


def status_error(status: int, body: Any, http_reason: str = "", retry_after: float | None = None) -> WatchError:
    """The exception for an error status; `body` is a metav1.Status dict when the server sent one, `retry_after`
    the parsed Retry-After header (the Status's `details.retryAfterSeconds` stands in when there is none)."""
    status_obj = body if isinstance(body, dict) else {}
    code = status_obj.get("code")
    code = code if isinstance(code, int) and code else status
    reason = str(status_obj.get("reason") or http_reason)
    message = str(status_obj.get("message") or (body if isinstance(body, str) else "")).strip()
    details = status_obj.get("details")
    details = details if isinstance(details, dict) else {}
    causes = details.get("causes") or []
    too_large = any(isinstance(c, dict) and c.get("reason") == "ResourceVersionTooLarge" for c in causes)
    if code == 410 or too_large or "too large resource version" in message.lower():
        return ResourceExpired(code, reason or "Expired", message)
    if retry_after is None:
        seconds = details.get("retryAfterSeconds")
        if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds >= 0:
            retry_after = float(seconds)
    return WatchError(code, reason, message, retry_after)


# ---------------------------------------------------------------------------------------------------- backoff


class Failure(enum.Enum):
    """What kind of failure a reflector backs off from; each has its own cap."""

    UNREACHABLE = "unreachable"  # no answer: connection refused or lost, a read timeout, a stream cut short
    UNAVAILABLE = "unavailable"  # the server answered it cannot serve now (429, 5xx), or expired a fresh list at once
    REFUSED = "refused"  # the server refused the request itself (401, 403, other 4xx): waits on a person


def classify(status: int) -> Failure:
    """The failure an error status is: 429 and 5xx are the server's state, every other status the request's."""
    return Failure.UNAVAILABLE if status == 429 or status >= 500 else Failure.REFUSED


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How long to wait before retrying. Delays double from `initial` up to the failure's cap, each drawn
    uniformly from [(1 - jitter) * d, d] so that many clients spread out; a Retry-After is the least delay,
    bounded by `retry_after_max`. Unreachable and unavailable servers get low caps: they cost the server nothing
    (or it is asking for the retry), and an apiserver back from a restart must be followed within a second or two.
    """

    initial: float = 0.5
    unreachable_max: float = 1.0
    unavailable_max: float = 2.0
    refused_max: float = 30.0
    # kube-apiserver asks for 5 s on the 503 it answers while it is still installing its paths (the CRDs' among
    # them), which would keep a watch from a restarted server for 5 s; 2 s honours the request without that
    retry_after_max: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        caps = (self.unreachable_max, self.unavailable_max, self.refused_max, self.retry_after_max)
        if not all(math.isfinite(v) and v >= 0 for v in (self.initial, *caps)) or self.initial <= 0:
            raise ValueError(f"backoff delays must be finite, initial positive and caps not negative: {self}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be between 0 and 1, not {self.jitter}")

    def cap(self, failure: Failure) -> float:
        if failure is Failure.UNREACHABLE:
            return self.unreachable_max
        if failure is Failure.UNAVAILABLE:
            return self.unavailable_max
        return self.refused_max


@dataclass(frozen=True, slots=True)
class BackoffState:
    """Consecutive failed attempts of one kind; `BackoffState()` after a success. `status` is the last error
    status (None when there was no answer); a change of kind or status is a change of state, logged once."""

    failure: Failure | None = None
    status: int | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Backoff:
    """One decision: the state after this failure, how long to wait, and whether the state changed."""

    state: BackoffState
    delay: float
    changed: bool


def next_backoff(
    policy: BackoffPolicy,
    state: BackoffState,
    failure: Failure,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    rand: float = 0.0,
) -> Backoff:
    """The delay before the next attempt after one more failure. `rand` in [0, 1) picks the jitter (0: the full
    exponential delay). The count starts again when the kind of failure changes: failing to connect through a long
    outage must not leave the first 503 of the restarted server with the delay of the thirtieth attempt."""
    attempts = state.attempts + 1 if state.failure is failure else 1
    exponential = min(policy.cap(failure), policy.initial * 2.0 ** min(attempts - 1, 64))
    delay = exponential * (1.0 - policy.jitter * min(max(rand, 0.0), 1.0))
    if retry_after is not None and math.isfinite(retry_after):
        delay = max(delay, min(max(retry_after, 0.0), policy.retry_after_max))
    changed = state.failure is not failure or state.status != status
    return Backoff(BackoffState(failure, status, attempts), delay, changed)


_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A Retry-After header's delay in seconds: delay-seconds, or an HTTP-date (relative to `now`, a Unix time;
    a date in the past is 0). None when the header is absent or not one of the two forms."""
    if value is None:
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is not an HTTP-date
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(slots=True)
class ReflectorStats:
    """Counters, for tests and metrics."""

    lists: int = 0  # complete (re)lists delivered with on_replace
    pages: int = 0  # list requests answered with 200
    watches: int = 0  # watch connections answered with 200
    events: int = 0  # ADDED/MODIFIED/DELETED delivered
    bookmarks: int = 0
    errors: int = 0  # failed requests, error events, broken streams (a 404 poll is not one)


class Reflector:
    """Lists and watches one resource, keeping `objects` current and telling `sink` about every change.

    `synced` is set after the first complete list, or when the API turns out not to be served (there is nothing
    to wait for); it stays unset while the server refuses access (403), which is retried with backoff.
    `objects` maps (namespace, name) to the object, namespace "" for cluster-scoped resources.
    """

    def __init__(
        self,
        api: Api,
        resource: Resource,
        sink: Sink,
        *,
        namespace: str | None = None,
        name: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
        watch_timeout: int = 300,
        request_timeout: float = 60.0,
        missing_poll_interval: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        unreachable_backoff_max: float = 1.0,
        unavailable_backoff_max: float = 2.0,
    ) -> None:
        if namespace is not None and not resource.namespaced:
            raise ValueError(f"{resource} is cluster-scoped: it cannot be watched in namespace {namespace!r}")
        if name is not None and (resource.namespaced or label_selector or field_selector):
            raise ValueError(f"{resource}: only a cluster-scoped object is watched by name, without selectors")
        if page_size < 1 or watch_timeout < 1:
            raise ValueError("page_size and watch_timeout must be positive")
        self.api = api
        self.resource = resource
        self.sink = sink
        self.namespace = namespace
        self.name = name
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.request_timeout = request_timeout
        self.missing_poll_interval = missing_poll_interval
        # a refused or lost connection, a 429 or a 5xx is the server's state, not the request's: retried often,
        # so a restarted apiserver is followed within a second or two; a refusal (401, 403, 4xx) waits on a person
        self.backoff = BackoffPolicy(
            initial=backoff_initial,
            unreachable_max=unreachable_backoff_max,
            unavailable_max=unavailable_backoff_max,
            refused_max=backoff_max,
        )

        self.synced = asyncio.Event()  # set after the first complete list (or on finding the API absent)
        self.objects: dict[Key, JSON] = {}
        self.resource_version: str | None = None  # where the next watch resumes
        self.missing = False  # the API answered 404 at the last list
        self.stats = ReflectorStats()

        self._path = resource.path(namespace)
        if name is not None:  # one object: listed with a GET of it, watched on its own watch path
            self._list_path = f"{self._path}/{quote(name, safe='')}"
            self._watch_path = resource.watch_path(name)
        else:
            self._list_path = self._watch_path = self._path
        self._failures = 0  # consecutive failed attempts of any kind, for the log
        self._backoff_state = BackoffState()
        self._response: aiohttp.ClientResponse | None = None
        self._restart = False
        self._resume_from: str | None = None
        self._forbidden_logged = False
        self._expired_in_a_row = 0  # ResourceExpired since the last watch that delivered anything
        self._running = False

    def __repr__(self) -> str:
        return f"Reflector({self.describe()})"

    def describe(self) -> str:
        where = f"namespace {self.namespace}" if self.namespace is not None else "all namespaces"
        if not self.resource.namespaced:
            where = "cluster" if self.name is None else f"name {self.name}"
        parts = [str(self.resource), where]
        if self.label_selector:
            parts.append(f"labels {self.label_selector}")
        if self.field_selector:
            parts.append(f"fields {self.field_selector}")
        return ", ".join(parts)

    # ------------------------------------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """List, then watch, forever; returns only by cancellation."""
        if self._running:
            raise RuntimeError(f"{self!r} is already running")
        self._running = True
        try:
            await self._loop()
        finally:
            self._running = False

    async def _loop(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch()
            except ResourceExpired as err:
                need_list = True
                self.stats.errors += 1
                log.info(
                    "%s: resourceVersion %s expired (%s); re-listing",
                    self.describe(),
                    self.resource_version,
                    err,
                    extra=self._extra(status=err.status),
                )
                self._expired_in_a_row += 1
                if self._expired_in_a_row > 1:  # expired again straight after a fresh list: do not spin
                    self._failures += 1
                    await self._backoff(Failure.UNAVAILABLE, err.status)
            except WatchError as err:
                if err.status == 404:
                    need_list = True
                    self._on_missing(err)
                    await asyncio.sleep(self.missing_poll_interval)
                    continue
                self.stats.errors += 1
                failure = classify(err.status)
                delay = self._next_delay(failure, err.status, err.retry_after)
                if err.status == 403:
                    need_list = True
                    self._on_forbidden(err)
                elif delay.changed:  # once per kind of answer, not once per retry
                    log.warning(
                        "%s: the API server answered %s; retrying (first in %.1f s%s)",
                        self.describe(),
                        err,
                        delay.delay,
                        ", as its Retry-After asks" if err.retry_after is not None else "",
                        extra=self._extra(status=err.status),
                    )
                self._failures += 1
                await asyncio.sleep(delay.delay)
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as err:
                # connection refused or lost, read timeout, a stream cut mid-line (orjson raises ValueError)
                self.stats.errors += 1
                self._failures += 1
                # the first failure and every 20th: an apiserver down for a minute is one line per watch, not 20
                level = logging.WARNING if self._failures == 1 or self._failures % 20 == 0 else logging.DEBUG
                log.log(
                    level,
                    "%s: %s: %s; resuming from resourceVersion %s",
                    self.describe(),
                    type(err).__name__,
                    err,
                    self.resource_version,
                    extra=self._extra(error=type(err).__name__),
                )
                await self._backoff(Failure.UNREACHABLE)

    def restart_watch(self, resource_version: str | None = None) -> None:
        """End the current watch connection now; the next one resumes from `resource_version` when given,
        else from the last one seen. No re-list unless the server says that version is gone."""
        if resource_version is not None:
            self._resume_from = resource_version
        response = self._response
        if response is not None:
            self._restart = True
            response.content.set_exception(_RestartRequested())

    def handle_event(self, event: JSON) -> None:
        """Apply one decoded watch event: update the cache and resourceVersion, tell the sink.

        Raises `ResourceExpired` for a 410 ERROR event (the caller re-lists) and `WatchError` for other errors.
        """
        etype = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise WatchError(500, "MalformedEvent", f"watch event {etype!r} without an object")
        if etype == "BOOKMARK":
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = rv
            self.stats.bookmarks += 1
            return
        if etype == "ERROR":
            raise status_error(500, obj)
        if etype not in EVENT_TYPES:
            log.warning("%s: ignoring watch event of unknown type %r", self.describe(), etype, extra=self._extra())
            return
        meta = obj.get("metadata") or {}
        meta.pop("managedFields", None)  # never read here; often the largest part of a Pod
        key = (meta.get("namespace") or "", meta.get("name") or "")
        if etype == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        rv = meta.get("resourceVersion")
        if rv:
            self.resource_version = rv
        self.stats.events += 1
        try:
            self.sink.on_event(self.resource.kind, etype, obj)
        except Exception:
            log.exception("%s: the sink failed on %s %s/%s", self.describe(), etype, *key, extra=self._extra())

    # ------------------------------------------------------------------------------------------------ list

    async def _list(self) -> None:
        items: list[JSON] = []
        cont: str | None = None
        rv: str | None = None
        restarts = 0
        while self.name is not None:
            limits = aiohttp.ClientTimeout(sock_connect=self.request_timeout, sock_read=self.request_timeout)
            try:
                response = await self._get([], limits, self._list_path)
            except WatchError as err:
                if err.status != 404:
                    raise
                break  # no such object (yet): empty, and the watch from "" reports it when it comes
            try:
                item = orjson.loads(await response.read())
            finally:
                response.release()
            self.stats.pages += 1
            item["kind"], item["apiVersion"] = self.resource.kind, self.resource.api_version
            items.append(item)
            # the watch starts from "" (the current state as one ADDED), not from the object's own version: that
            # is as old as its last change, often compacted away, and would answer 410 after every list
            rv = None
            break
        while self.name is None:
            params = [("limit", str(self.page_size)), *self._selectors()]
            if cont:
                params.append(("continue", cont))
            limits = aiohttp.ClientTimeout(sock_connect=self.request_timeout, sock_read=self.request_timeout)
            try:
                response = await self._get(params, limits, self._list_path)
                try:
                    body = orjson.loads(await response.read())
                finally:
                    response.release()
            except ResourceExpired:
                restarts += 1
                if not cont or restarts > 3:
                    raise
                # the continue token outlived etcd's compaction window: start the list again
                log.info("%s: list continuation expired; listing from the start", self.describe(), extra=self._extra())
                items, cont = [], None
                continue
            self.stats.pages += 1
            kind, api_version = self.resource.kind, self.resource.api_version
            for item in body.get("items") or ():
                item["kind"] = kind
                item["apiVersion"] = api_version
                items.append(item)
            meta = body.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            cont = meta.get("continue") or None
            if not cont:
                break

        self.objects.clear()
        for item in items:
            meta = item.get("metadata") or {}
            meta.pop("managedFields", None)  # never read here; often the largest part of a Pod
            self.objects[(meta.get("namespace") or "", meta.get("name") or "")] = item
        self.resource_version = rv
        self._resume_from = None
        if self.missing:
            log.info("%s: the API is served now; watching", self.describe(), extra=self._extra())
        self.missing = False
        self._recovered()
        if self._forbidden_logged:
            log.info("%s: access granted now", self.describe(), extra=self._extra())
            self._forbidden_logged = False
        self.stats.lists += 1
        log.debug("%s: listed %d objects at resourceVersion %s", self.describe(), len(items), rv, extra=self._extra())
        self._replace(items)
        self.synced.set()

    def _replace(self, items: list[JSON]) -> None:
        try:
            self.sink.on_replace(self.resource.kind, items)
        except Exception:
            log.exception(
                "%s: the sink failed on a list of %d objects", self.describe(), len(items), extra=self._extra()
            )

    # ------------------------------------------------------------------------------------------------ watch

    async def _watch(self) -> None:
        rv = self._resume_from or self.resource_version or ""
        self._resume_from = None
        self._restart = False
        # the server ends the watch after timeoutSeconds (spread so that reflectors do not reconnect together);
        # the read timeout only catches a connection that died silently
        server_timeout = random.randint(self.watch_timeout, self.watch_timeout + self.watch_timeout // 4)
        params = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(server_timeout)),
            ("resourceVersion", rv),
            *self._selectors(),
        ]
        limits = aiohttp.ClientTimeout(sock_connect=self.request_timeout, sock_read=server_timeout + 30)
        started = time.monotonic()
        response = await self._get(params, limits, self._watch_path)
        self._response = response
        self.stats.watches += 1
        lines = 0
        log.debug("%s: watching from resourceVersion %s", self.describe(), rv, extra=self._extra())
        try:
            lines = await self._consume(response.content)
        except _RestartRequested:
            log.debug("%s: watch restarted on request", self.describe(), extra=self._extra())
            return
        finally:
            self._response = None
            response.close()
        if lines:
            self._recovered()
            self._expired_in_a_row = 0
        elif time.monotonic() - started < 1.0 and not self._restart:
            # the server closed a fresh watch at once without a word: back off rather than reconnect in a loop
            raise WatchError(503, "ShortWatch", "the watch ended at once without an event")

    async def _consume(self, content: aiohttp.StreamReader) -> int:
        """Read newline-delimited events until the server ends the stream; returns how many lines there were.

        Lines are split here rather than with `readline`, whose limit (twice the read buffer) an object near
        the 1.5 MiB etcd limit can exceed.
        """
        lines = 0
        pending = bytearray()
        while True:
            chunk = await content.readany()
            if not chunk:
                break
            start = 0
            if pending:
                end = chunk.find(b"\n")
                if end < 0:
                    pending += chunk
                    continue
                pending += chunk[:end]
                lines += 1
                self._line(pending)
                pending = bytearray()
                start = end + 1
            view = memoryview(chunk)
            while not self._restart:
                end = chunk.find(b"\n", start)
                if end < 0:
                    pending += view[start:]
                    break
                if end > start:
                    lines += 1
                    self._line(view[start:end])
                start = end + 1
            if self._restart:
                raise _RestartRequested
            await asyncio.sleep(0)  # a burst of events must not keep the rest of the program waiting
        if pending.strip():
            log.debug("%s: watch ended in the middle of an event", self.describe(), extra=self._extra())
        return lines

    def _line(self, raw: bytes | bytearray | memoryview) -> None:
        event = orjson.loads(raw)
        if isinstance(event, dict):
            self.handle_event(event)

    # ------------------------------------------------------------------------------------------------ HTTP

    def _selectors(self) -> list[tuple[str, str]]:
        params = []
        if self.label_selector:
            params.append(("labelSelector", self.label_selector))
        if self.field_selector:
            params.append(("fieldSelector", self.field_selector))
        return params

    async def _get(
        self, params: list[tuple[str, str]], limits: aiohttp.ClientTimeout, path: str
    ) -> aiohttp.ClientResponse:
        """GET through the ApiClient (its auth, TLS and proxy settings); raises WatchError unless 200."""
        response: aiohttp.ClientResponse = await self.api.call_api(
            path,
            "GET",
            query_params=params,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=limits,
        )
        if response.status == 200:
            return response
        try:
            raw = await response.read()
        finally:
            response.release()
        body: Any
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")[:500]
        retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
        raise status_error(response.status, body, response.reason or "", retry_after)

    # ------------------------------------------------------------------------------------------------ errors

    def _on_missing(self, err: WatchError) -> None:
        if self.missing:
            log.debug("%s: still not served", self.describe(), extra=self._extra(status=404))
            return
        self.missing = True
        log.warning(
            "%s: the API server does not serve this resource (%s); is its CRD installed? "
            "Treating it as empty and checking again every %gs",
            self.describe(),
            err,
            self.missing_poll_interval,
            extra=self._extra(status=404),
        )
        had = bool(self.objects) or not self.synced.is_set()
        self.objects.clear()
        self.resource_version = None
        if had:
            self._replace([])
        self.synced.set()

    def _on_forbidden(self, err: WatchError) -> None:
        scope = (
            f"a Role in namespace {self.namespace}"
            if self.namespace is not None and self.resource.namespaced
            else "a ClusterRole (bound with a ClusterRoleBinding)"
        )
        message = (
            "%s: forbidden (%s). The allocator's service account needs the RBAC rule %s in %s; retrying with backoff"
        )
        args = (self.describe(), err.message or err.reason, self.resource.rbac_rule(), scope)
        if self._forbidden_logged:
            log.debug(message, *args, extra=self._extra(status=403))
        else:
            self._forbidden_logged = True
            log.error(message, *args, extra=self._extra(status=403))

    def _recovered(self) -> None:
        if self._failures > 1:
            log.info("%s: the API server answers again after %d failed attempts", self.describe(), self._failures,
                     extra=self._extra())  # fmt: skip
        self._failures = 0
        self._backoff_state = BackoffState()

    def _next_delay(self, failure: Failure, status: int | None = None, retry_after: float | None = None) -> Backoff:
        decision = next_backoff(
            self.backoff, self._backoff_state, failure, status=status, retry_after=retry_after, rand=random.random()
        )
        self._backoff_state = decision.state
        return decision

    async def _backoff(self, failure: Failure, status: int | None = None) -> None:
        await asyncio.sleep(self._next_delay(failure, status).delay)

    def _extra(self, **fields: Any) -> dict[str, Any]:
        return {
            "resource": str(self.resource),
            "namespace": self.namespace,
            "label_selector": self.label_selector,
            **fields,
        }
