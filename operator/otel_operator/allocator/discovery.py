"""From jobs' service-discovery configs to target groups: which watched objects feed which job.

Prometheus runs one discoverer per `kubernetes_sd_configs` entry, each with its own watches. Here every entry with
the same (role, attach_metadata, selectors) shares one `DiscoveryIndex` over all namespaces, fed once per watch
event, and an entry only filters the groups by namespace. A hundred ServiceMonitors therefore cost one
EndpointSlice index, not a hundred, and a new job is answered from the index at once instead of after a fresh list.

Selectors: Prometheus gives them to the API server, so its discoverer never sees a non-matching object. Matching
the groups afterwards would not be the same (a Pod selector on role endpointslice removes the pod labels of
non-matching Pods' endpoints, it does not drop the endpoints), so an entry with selectors reads an index of its
own, fed only the objects its selectors admit (an object that stops matching is deleted from it). Entries with
equal selectors still share one.

http_sd_configs, file_sd_configs and dns_sd_configs are polled (sd/pollers.py, one poller per distinct entry);
the router keeps each poller's current groups and routes a refresh to the jobs that read it (`poll_configs` is
what the shell must run, `polled` takes a refresh). Any other `*_sd_configs` is refused, naming the job and kind.

Pure: the shell passes in watch events, poll results and the cached objects; the router returns the (job, group)
updates. Group sources are prefixed with the entry's kind and position ("kubernetes_sd_configs/0/endpointslice/ns/
name", "http_sd_configs/1/http://sd/targets:0") so two entries of one job never overwrite each other's groups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_operator.allocator.sd import dns, file, http
from otel_operator.allocator.sd.common import SDConfigError
from otel_operator.allocator.sd.pollers import PolledSD
from otel_operator.allocator.sd.selectors import RoleSelectors, SelectorError, parse_selectors
from otel_operator.prom.discovery.common import AttachMetadata, Role
from otel_operator.prom.discovery.index import DISCOVERED_ROLES, DiscoveryIndex
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.promconfig import PromConfigError, static_target_groups

Obj = Mapping[str, Any]
IndexKey = tuple[Role, AttachMetadata, RoleSelectors]
Update = tuple[str, TargetGroup]  # (job, group)

SD_PREFIX = "kubernetes_sd_configs"
# the polled kinds: their config key → the entry's parser
POLLED_KINDS: dict[str, Callable[[object, str], PolledSD]] = {
    http.KIND: http.parse_http_sd,
    file.KIND: file.parse_file_sd,
    dns.KIND: dns.parse_dns_sd,
}
SUPPORTED_SD = ("static_configs", SD_PREFIX, *POLLED_KINDS)
_IGNORED_SD_KEYS = frozenset({"api_server", "kubeconfig_file"})  # the allocator uses its own connection
_HTTP_CLIENT_KEYS = frozenset(
    {
        "basic_auth",
        "authorization",
        "oauth2",
        "bearer_token",
        "bearer_token_file",
        "tls_config",
        "proxy_url",
        "no_proxy",
        "proxy_from_environment",
        "proxy_connect_header",
        "follow_redirects",
        "enable_http2",
        "http_headers",
    }
)
_SD_KEYS = frozenset({"role", "namespaces", "selectors", "attach_metadata"}) | _IGNORED_SD_KEYS | _HTTP_CLIENT_KEYS


class DiscoveryConfigError(ValueError):
    """A job's discovery config that the allocator cannot run; the message names the job and the field."""


@dataclass(frozen=True, slots=True)
class KubernetesSD:
    """One `kubernetes_sd_configs` entry: where its groups come from and which namespaces it keeps."""

    position: int
    role: Role
    attach: AttachMetadata
    namespaces: frozenset[str] | None  # None: every namespace
    selectors: RoleSelectors = field(default_factory=RoleSelectors)

    @property
    def index_key(self) -> IndexKey:
        return (self.role, self.attach, self.selectors)

    def keeps(self, group: TargetGroup) -> bool:
        if self.namespaces is None or self.role is Role.NODE:  # nodes are in no namespace; Prometheus ignores it
            return True
        _, _, rest = group.source.partition("/")
        return rest.partition("/")[0] in self.namespaces

    def wrap(self, group: TargetGroup) -> TargetGroup:
        return TargetGroup(f"{SD_PREFIX}/{self.position}/{group.source}", group.targets, group.labels)


@dataclass(frozen=True, slots=True)
class PolledEntry:
    """One http/file/dns SD entry of a job: its poller's config, and the prefix of its groups' sources."""

    prefix: str  # "http_sd_configs/0"
    config: PolledSD

    def wrap(self, group: TargetGroup) -> TargetGroup:
        return TargetGroup(f"{self.prefix}/{group.source}", group.targets, group.labels)


@dataclass(frozen=True, slots=True)
class JobDiscovery:
    """What one job discovers: its Kubernetes SD entries, its polled entries and its static groups."""

    kubernetes: tuple[KubernetesSD, ...] = ()
    static: tuple[TargetGroup, ...] = ()
    polled: tuple[PolledEntry, ...] = ()


def _bool(value: object, where: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise DiscoveryConfigError(f"{where}: must be true or false, got {value!r}")


def _kubernetes_sd(job: str, position: int, raw: object, own_namespace: str) -> KubernetesSD:
    where = f"job {job!r}: kubernetes_sd_configs[{position}]"
    if not isinstance(raw, Mapping):
        raise DiscoveryConfigError(f"{where}: must be a mapping")
    unknown = sorted(str(k) for k in raw if k not in _SD_KEYS)
    if unknown:
        raise DiscoveryConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    role_text = raw.get("role")
    try:
        role = Role(str(role_text))
    except ValueError:
        role = None
    if role is None or role not in DISCOVERED_ROLES:
        valid = ", ".join(DISCOVERED_ROLES)
        raise DiscoveryConfigError(f"{where}.role: {role_text!r} is not supported here; use one of {valid}")
    try:
        selectors = parse_selectors(str(role), raw.get("selectors"), f"{where}.selectors")
    except SelectorError as err:
        raise DiscoveryConfigError(str(err)) from None
    attach_raw = raw.get("attach_metadata") or {}
    if not isinstance(attach_raw, Mapping):
        raise DiscoveryConfigError(f"{where}.attach_metadata: must be a mapping")
    known_attach = ("node", "namespace", "deployment", "job", "cronjob")
    for key in attach_raw:
        if key not in known_attach:
            raise DiscoveryConfigError(f"{where}.attach_metadata: unknown field {key!r} (known: {known_attach})")
    attach = AttachMetadata(**{k: _bool(attach_raw.get(k), f"{where}.attach_metadata.{k}") for k in known_attach})
    namespaces: frozenset[str] | None = None
    ns_raw = raw.get("namespaces")
    if ns_raw is not None:
        if not isinstance(ns_raw, Mapping):
            raise DiscoveryConfigError(f"{where}.namespaces: must be a mapping with names and own_namespace")
        names = ns_raw.get("names") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DiscoveryConfigError(f"{where}.namespaces.names: must be a list of namespace names")
        unknown_ns = sorted(str(k) for k in ns_raw if k not in ("names", "own_namespace"))
        if unknown_ns:
            raise DiscoveryConfigError(f"{where}.namespaces: unknown field(s) {', '.join(unknown_ns)}")
        own = _bool(ns_raw.get("own_namespace"), f"{where}.namespaces.own_namespace")
        if own and (raw.get("api_server") or raw.get("kubeconfig_file")):
            which = "api_server" if raw.get("api_server") else "kubeconfig_file"
            raise DiscoveryConfigError(f"{where}: cannot use '{which}' and 'namespaces.own_namespace' simultaneously")
        chosen = set(names)
        if own:
            chosen.add(own_namespace)  # Prometheus: the namespace of the pod it runs in; here the allocator's
        namespaces = frozenset(chosen) if chosen else None
    return KubernetesSD(position, role, attach, namespaces, selectors)


def unsupported_discovery(config: Mapping[str, Any]) -> list[str]:
    """The `*_sd_configs` keys of one scrape config that this allocator cannot run (non-empty ones only)."""
    return sorted(
        str(k)
        for k, v in config.items()
        if isinstance(k, str) and k.endswith("_sd_configs") and k not in SUPPORTED_SD and v
    )


def job_discovery(job: str, config: Mapping[str, Any], own_namespace: str = "default") -> JobDiscovery:
    """What `config` (one scrape config, as Prometheus YAML writes it) discovers. Raises DiscoveryConfigError for
    what the allocator cannot discover; the caller refuses that job and reports it."""
    other = unsupported_discovery(config)
    if other:
        supported = ", ".join(s for s in SUPPORTED_SD if s != "static_configs")
        raise DiscoveryConfigError(
            f"job {job!r}: {', '.join(other)}: not supported by this allocator; use static_configs or {supported} "
            "(or a ServiceMonitor/PodMonitor/ScrapeConfig)"
        )
    raw_sd = config.get(SD_PREFIX) or []
    if not isinstance(raw_sd, list):
        raise DiscoveryConfigError(f"job {job!r}: {SD_PREFIX} must be a list")
    kubernetes = tuple(_kubernetes_sd(job, i, entry, own_namespace) for i, entry in enumerate(raw_sd))
    polled: list[PolledEntry] = []
    for kind, parse in POLLED_KINDS.items():
        entries = config.get(kind) or []
        if not isinstance(entries, list):
            raise DiscoveryConfigError(f"job {job!r}: {kind} must be a list")
        for i, entry in enumerate(entries):
            try:
                polled.append(PolledEntry(f"{kind}/{i}", parse(entry, f"job {job!r}: {kind}[{i}]")))
            except SDConfigError as err:
                raise DiscoveryConfigError(str(err)) from None
    try:
        relabels = bool(config.get("relabel_configs"))
        static = static_target_groups(config.get("static_configs"), job, check_addresses=not relabels)
    except PromConfigError as err:
        raise DiscoveryConfigError(str(err)) from None
    return JobDiscovery(
        kubernetes,
        tuple(TargetGroup(f"static_configs/{g.source}", g.targets, g.labels) for g in static),
        tuple(polled),
    )


class DiscoveryRouter:
    """Shared discovery indexes and which job entries read them.

    `objects(kind)` returns the cached objects of a kind (from the watches), used to fill an index created after
    its kind was listed. The shell watches `kinds` and runs a poller for each of `poll_configs` (both change when
    jobs change).
    """

    def __init__(self, objects: Callable[[str], Iterable[Obj]], max_group_targets: int = 0) -> None:
        """`max_group_targets` (0: none): an EndpointSlice or Endpoints group with more targets is counted, not
        built (`withheld` says how many it has); the allocator passes the per-job target cap, as such a group could
        never be served anyway."""
        self._objects = objects
        self._max_group_targets = max_group_targets
        self._indexes: dict[IndexKey, DiscoveryIndex] = {}
        self._readers: dict[IndexKey, list[tuple[str, KubernetesSD]]] = {}
        self._jobs: dict[str, JobDiscovery] = {}
        self._polled: dict[PolledSD, dict[str, TargetGroup]] = {}  # each poller's current non-empty groups
        self._poll_readers: dict[PolledSD, list[tuple[str, PolledEntry]]] = {}

    @property
    def kinds(self) -> frozenset[str]:
        """Every object kind some job's discovery reads."""
        return frozenset().union(*(index.kinds for index in self._indexes.values()))

    def namespaces(self, kind: str) -> frozenset[str] | None:
        """The namespaces the jobs read objects of `kind` in (for Namespace objects: their names); None when some
        job reads every namespace (or the kind is read by a node role, which is in none)."""
        out: set[str] = set()
        for key, entries in self._readers.items():
            index = self._indexes.get(key)
            if index is None or kind not in index.kinds:
                continue
            read = _namespaces_read(sd for _, sd in entries)
            if read is None:
                return None
            out |= read
        return frozenset(out)

    @property
    def poll_configs(self) -> frozenset[PolledSD]:
        """Every polled SD config some job reads: what the shell must run."""
        return frozenset(self._poll_readers)

    def set_jobs(self, jobs: Mapping[str, JobDiscovery]) -> dict[str, list[TargetGroup]]:
        """Make the routed jobs exactly `jobs`; returns the complete current groups of every new or changed job."""
        changed = {name: d for name, d in jobs.items() if self._jobs.get(name) != d}
        self._jobs = dict(jobs)
        readers: dict[IndexKey, list[tuple[str, KubernetesSD]]] = {}
        for name, discovery in self._jobs.items():
            for sd in discovery.kubernetes:
                readers.setdefault(sd.index_key, []).append((name, sd))
        for key in list(self._indexes):
            if key not in readers:
                del self._indexes[key]
        for key, entries in readers.items():
            # build only the namespaces some reader keeps: a Service nobody reads costs no targets. Narrowing or
            # widening the set changes no group an unchanged reader keeps, and changed readers get all theirs below.
            namespaces = _namespaces_read(sd for _, sd in entries)
            index = self._indexes.get(key)
            if index is None:
                index = self._indexes[key] = DiscoveryIndex(key[0], key[1])
                index.set_bounds(self._max_group_targets, namespaces)
                for kind in sorted(index.kinds):  # Pods before Services etc. does not matter: groups rebuild
                    index.replace(kind, _admitted(key, kind, self._objects(kind)))
            else:
                index.set_bounds(self._max_group_targets, namespaces)
        self._readers = readers
        poll_readers: dict[PolledSD, list[tuple[str, PolledEntry]]] = {}
        for name, discovery in self._jobs.items():
            for entry in discovery.polled:
                poll_readers.setdefault(entry.config, []).append((name, entry))
        self._polled = {c: g for c, g in self._polled.items() if c in poll_readers}
        self._poll_readers = poll_readers
        out: dict[str, list[TargetGroup]] = {}
        for name, discovery in changed.items():
            groups = list(discovery.static)
            for sd in discovery.kubernetes:
                groups += [sd.wrap(g) for g in self._indexes[sd.index_key].groups() if sd.keeps(g)]
            for entry in discovery.polled:
                groups += [entry.wrap(g) for g in self._polled.get(entry.config, {}).values()]
            out[name] = groups
        return out

    def withheld(self, job: str, group: TargetGroup) -> int:
        """How many targets a group routed to `job` has that were counted but not built (0: none withheld)."""
        prefix, _, rest = group.source.partition("/")
        if prefix != SD_PREFIX or (discovery := self._jobs.get(job)) is None:
            return 0
        position, _, inner = rest.partition("/")
        for sd in discovery.kubernetes:
            if str(sd.position) == position and (index := self._indexes.get(sd.index_key)) is not None:
                return index.withheld.get(inner, 0)
        return 0

    def polled(self, config: PolledSD, groups: Iterable[TargetGroup]) -> list[Update]:
        """One refresh of a poller (empty groups remove their source); the updates for the jobs that read it. A
        refresh for a config no job reads any more (a poller stopping) is ignored."""
        readers = self._poll_readers.get(config)
        if readers is None:
            return []
        current = self._polled.setdefault(config, {})
        changed: list[TargetGroup] = []
        for group in groups:
            if not group.targets and not group.labels:
                if current.pop(group.source, None) is not None:
                    changed.append(group)
            elif current.get(group.source) != group:
                current[group.source] = group
                changed.append(group)
        return [(name, entry.wrap(g)) for name, entry in readers for g in changed]

    def _route(self, key: IndexKey, groups: list[TargetGroup]) -> list[Update]:
        out: list[Update] = []
        for name, sd in self._readers.get(key, ()):
            out += [(name, sd.wrap(g)) for g in groups if sd.keeps(g)]
        return out

    def upsert(self, kind: str, obj: Obj) -> list[Update]:
        out: list[Update] = []
        for key, index in self._indexes.items():
            if kind in index.kinds:
                if key[2].admits(kind, obj):
                    out += self._route(key, index.upsert(obj, kind))
                else:  # (no longer) selected: gone for this entry, as from a selector-filtered watch
                    meta = obj.get("metadata") or {}
                    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
                    out += self._route(key, index.delete(kind, namespace, name))
        return out

    def delete(self, kind: str, namespace: str, name: str) -> list[Update]:
        out: list[Update] = []
        for key, index in self._indexes.items():
            if kind in index.kinds:
                out += self._route(key, index.delete(kind, namespace, name))
        return out

    def replace(self, kind: str, objs: Sequence[Obj]) -> list[Update]:
        out: list[Update] = []
        for key, index in self._indexes.items():
            if kind in index.kinds:
                out += self._route(key, index.replace(kind, _admitted(key, kind, objs)))
        return out


def _namespaces_read(entries: Iterable[KubernetesSD]) -> frozenset[str] | None:
    """The namespaces any of these entries keeps; None when one keeps every namespace (or reads nodes)."""
    out: set[str] = set()
    for sd in entries:
        if sd.namespaces is None or sd.role is Role.NODE:
            return None
        out |= sd.namespaces
    return frozenset(out)


def _admitted(key: IndexKey, kind: str, objs: Iterable[Obj]) -> Iterable[Obj]:
    selectors = key[2]
    if kind not in selectors.kinds:
        return objs
    return [obj for obj in objs if selectors.admits(kind, obj)]
