"""The allocator's in-memory model: jobs, their targets, the collectors, the assignment, and every HTTP answer.

Pure and synchronous: the shell feeds it (scrape configs, target groups, collectors) and calls `flush()` once per
batch of changes; `flush` recomputes only what the batch touched and leaves every response body ready to send, so a
GET is one dict lookup. Nothing here does I/O or reads the clock.

Per job the model keeps the raw target groups by source (so a relabeling change can re-assemble them) and the kept
targets by identity. A target's identity is its job plus its final label set, as in Prometheus: two discovered
targets that relabel to the same labels are one target (upstream's duplicate-scrape bug class), and a change of a
meta label alone keeps the target where it is. The served labels are the pre-relabel labels, as upstream serves
them (the collector relabels again with the same scrape config).

The assignment is the strategy's pure function of (all targets, collectors). For consistent-hashing (the default) a
`Market` keeps it up to date target by target, so a change costs what it moves, not what there is; a new collector
set solves it afresh. After it, only the (collector, job) bodies whose membership or content changed are
re-serialised. Bodies list targets in key order, so equal content
gives equal bytes and a stable ETag (upstream's order is random on every request).

Target caps: a job may have at most `per_job_limit` candidate targets and all served jobs together at most
`total_limit` (0: no cap). A candidate is a discovered target of a group the job's relabeling does not drop as a
whole: the leading rules that read only group-level labels (a ServiceMonitor's Service-label `keep`, its namespace)
are decided once per group, before any target is assembled, so a big Service only counts against the monitors that
select it. A group the discovery withheld (too big to build, see `DiscoveryIndex.withheld`) counts with its counted
size. A job over its cap, or among the largest ones when the total is over, is not served at all (its targets are
dropped, as Prometheus's `target_limit` fails the whole scrape config) until it fits again; `over_cap` says which.
Groups are assembled (relabeled) in `flush`, only for jobs within their caps.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import orjson

from otel_operator.allocator.strategies import Collector, ConsistentHashing, Strategy, TargetRef, node_of
from otel_operator.allocator.strategies.market import Market
from otel_operator.prom.labels import META_PREFIX
from otel_operator.prom.model import TargetGroup
from otel_operator.prom.relabel import Action, RelabelChain, RelabelConfig
from otel_operator.prom.targets import NO_SHARDING, AssembledTarget, Mode, ScrapeJob, ScrapeSettings


@dataclass(frozen=True, slots=True)
class Body:
    """A response body, serialised once, and its strong ETag."""

    data: bytes
    etag: str

    @classmethod
    def of(cls, data: bytes) -> Body:
        return cls(data, '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')


EMPTY_LIST = Body.of(b"[]\n")
EMPTY_MAP = Body.of(b"{}\n")


@functools.lru_cache(maxsize=1 << 14)  # every flush that changes the job list links them all again
def jobs_link(job: str) -> str:
    """The `_link` of a job in `/jobs`: its targets path, escaped as Go's url.QueryEscape does."""
    return f"/jobs/{quote_plus(job, safe='')}/targets"


def exact(data: bytes) -> bytes:
    """`data` in an object of its own size. orjson's result keeps its whole output buffer allocated (16 KB for a
    4 KB fragment here): kept for the life of a target, that was more than twice the fragments' bytes in RSS
    (bench_allocator: 217 MB peak at 10k targets before, see docs/benchmarks.md after)."""
    return bytes(memoryview(data))


def target_key(job: str, final_labels: Sequence[tuple[str, str]]) -> str:
    """A target's identity as a short, stable string: what the strategies hash and sort by."""
    return hashlib.blake2b(job.encode() + b"\x00" + orjson.dumps(final_labels), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class ServedTarget:
    ref: TargetRef
    served_labels: Mapping[str, str]
    fragment: bytes  # {"labels":{...},"targets":["<address>"]}, as served


def _served(key: str, target: AssembledTarget, with_node: bool) -> ServedTarget:
    labels = target.allocator_labels
    address = target.address
    fragment = exact(orjson.dumps({"labels": labels, "targets": [address]}, option=orjson.OPT_SORT_KEYS))
    node = node_of(labels) if with_node else None
    return ServedTarget(TargetRef(key, target.job_name, address, node), labels, fragment)


Kept = tuple[tuple[str, AssembledTarget], ...]  # a group's kept targets with their keys
SLICE = 1024  # targets handled between two stop checks (and freed at once when a big job goes)

# Label names that Kubernetes endpointslice/endpoints targets never carry themselves: their values come from the
# group (the slice or Endpoints object, its Service, its namespace), so they are equal for every target of a group.
_GROUP_ONLY = (
    "__meta_kubernetes_service_",
    "__meta_kubernetes_namespace",
    "__meta_kubernetes_endpointslice_label",
    "__meta_kubernetes_endpointslice_annotation",
    "__meta_kubernetes_endpointslice_name",
    "__meta_kubernetes_endpointslice_address_type",
    "__meta_kubernetes_endpoints_label",
    "__meta_kubernetes_endpoints_annotation",
    "__meta_kubernetes_endpoints_name",
)
_GROUP_ROLES = frozenset({"endpointslice", "endpoints"})
_DECIDING = frozenset({Action.KEEP, Action.DROP, Action.KEEPEQUAL, Action.DROPEQUAL})
_SETTING = frozenset({Action.REPLACE, Action.LOWERCASE, Action.UPPERCASE, Action.HASHMOD})


def _per_target(name: str) -> bool:
    """Whether targets of an endpointslice/endpoints group may carry `name` (so it may differ between them)."""
    return name == "__address__" or (name.startswith("__meta_") and not name.startswith(_GROUP_ONLY))


def group_rules(rules: Sequence[RelabelConfig]) -> tuple[RelabelChain, ...]:
    """The leading rules that can be decided for a whole endpointslice/endpoints group at once, one chain each:
    `keep`/`drop` (and the `*equal` ones) reading only group-level names, and value-setting rules that read and
    write only such names (prometheus-operator's `__tmp_prometheus_job_name` copy). Stops at the first other rule:
    what follows may depend on a target's own labels."""
    out: list[RelabelChain] = []
    for rule in (NO_SHARDING, *rules):
        reads = list(rule.source_labels or ())
        if rule.action in (Action.KEEPEQUAL, Action.DROPEQUAL):
            reads.append(rule.target_label)
        if any(_per_target(name) for name in reads):
            break
        sets_uniformly = rule.action in _SETTING and "$" not in rule.target_label
        if rule.action not in _DECIDING and not (sets_uniformly and not _per_target(rule.target_label)):
            break
        out.append(RelabelChain((rule,)))
    return tuple(out)


def group_dropped(chains: Sequence[RelabelChain], group: TargetGroup, seeds: Iterable[tuple[str, str]]) -> bool:
    """Whether `chains` (from `group_rules`) drop every target of `group`: decided on the group's labels alone,
    for Kubernetes endpointslice/endpoints groups (source `kubernetes_sd_configs/<n>/<role>/...`); False otherwise."""
    parts = group.source.split("/", 3)
    if not chains or len(parts) < 3 or parts[0] != "kubernetes_sd_configs" or parts[2] not in _GROUP_ROLES:
        return False
    labels = {name: value for name, value in group.labels.items() if value}
    for name, value in seeds:
        labels.setdefault(name, value)
    return not all(chain.process(labels, None) for chain in chains)


@dataclass(frozen=True, slots=True)
class OverCap:
    """A job not served because of a target cap: its candidate count, the cap and which cap it is."""

    count: int
    cap: int
    which: str  # "per_job" or "total"


class FlushAborted(Exception):
    """`abort()` was called while a flush ran: the model is left half-updated (the process is stopping)."""


@dataclass(slots=True)
class _Job:
    scrape: ScrapeJob
    groups: dict[str, TargetGroup] = field(default_factory=dict)  # raw, by source
    kept: dict[str, Kept] = field(default_factory=dict)  # assembled and kept, by source (only assembled ones)
    discovered: int = 0  # targets in `groups` (withheld ones counted), before relabel filtering
    targets: dict[str, ServedTarget] = field(default_factory=dict)  # by key
    sizes: dict[str, int] = field(default_factory=dict)  # discovered targets per source
    candidates: dict[str, int] = field(default_factory=dict)  # per source: its size, 0 if dropped as a whole
    pending: set[str] = field(default_factory=set)  # sources whose `kept` is not assembled yet
    group_chains: tuple[RelabelChain, ...] = ()
    over: OverCap | None = None

    def __post_init__(self) -> None:
        self.group_chains = group_rules(self.scrape.settings.relabel_configs)


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one `flush` changed: for logs, metrics and tests."""

    jobs: frozenset[str] = frozenset()  # jobs whose targets were recomputed
    reassigned: bool = False  # whether the strategy ran
    moved: int = 0  # targets whose collector changed (new and removed targets not counted)
    bodies: int = 0  # (collector, job) bodies re-serialised

    @property
    def changed(self) -> bool:
        return bool(self.jobs) or self.reassigned


class AllocationModel:
    """Jobs, targets, collectors, assignment and the served bodies. Feed it, then `flush()`; not thread-safe."""

    def __init__(
        self, strategy: Strategy, *, filtering: bool = True, per_job_limit: int = 0, total_limit: int = 0
    ) -> None:
        """`filtering`: apply each job's relabel rules to decide which targets exist (`filter_strategy:
        relabel-config`, the default); without it every discovered target is kept, its identity being its
        non-meta labels. `per_job_limit` / `total_limit`: the target caps (0: none), see the module doc."""
        self.strategy = strategy
        self.filtering = filtering
        self.per_job_limit = per_job_limit
        self.total_limit = total_limit
        # called between slices of a flush: True stops it (FlushAborted); the shell may also pause there
        self.should_stop: Callable[[], bool] = lambda: False
        self._with_node = strategy.name == "per-node"  # the only strategy that reads a target's node
        self._jobs: dict[str, _Job] = {}
        self._collectors: tuple[Collector, ...] = ()
        self._assignment: dict[str, str | None] = {}  # target key → collector
        self._market: Market | None = None  # consistent-hashing's incremental matching, for these collectors
        self._added: dict[str, TargetRef] = {}  # targets new since the last flush
        self._removed: set[str] = set()  # and gone since
        self._dirty_jobs: set[str] = set()
        self._collectors_dirty = False
        self._jobs_dirty = False
        self._synced_once = False
        # served state
        self._bodies: dict[str, dict[str, Body]] = {}  # job → collector → body
        self._buckets: dict[str, dict[str, tuple[str, ...]]] = {}  # job → collector → target keys in the body
        # job → the all-collectors map (a debugging view): rendered on first request after a change, then kept
        self._job_bodies: dict[str, Body] = {}
        self._jobs_body = EMPTY_MAP
        self._listed: tuple[str, ...] = ()  # the jobs `_jobs_body` lists
        self._flushing = False
        self._graveyard: list[Sequence[object] | Mapping[str, object]] = []

    # ------------------------------------------------------------------------------------------- feeding

    def set_scrape_configs(self, settings: Iterable[ScrapeSettings]) -> None:
        """Make the jobs exactly these. A job whose settings changed re-assembles its targets from its groups."""
        wanted = {s.job_name: s for s in settings}
        for name in list(self._jobs):
            if name not in wanted:
                gone = self._jobs.pop(name)
                self._removed.update(gone.targets)
                self._bury_job(gone)
                self._dirty_jobs.add(name)
                self._jobs_dirty = True
        for name, s in wanted.items():
            job = self._jobs.get(name)
            if job is None:
                self._jobs[name] = _Job(ScrapeJob(s))
                self._jobs_dirty = True
            elif job.scrape.settings != s:
                job.scrape = ScrapeJob(s)
                job.group_chains = group_rules(s.relabel_configs)
                job.candidates = {src: self._candidates(job, g, job.sizes[src]) for src, g in job.groups.items()}
                self._bury(*job.kept.values())
                job.kept.clear()  # re-assembled in the next flush (if the job fits its cap)
                job.pending = set(job.groups)
                self._dirty_jobs.add(name)

    @property
    def job_names(self) -> tuple[str, ...]:
        return tuple(self._jobs)

    def update_group(self, job_name: str, group: TargetGroup, withheld: int = 0) -> None:
        """Replace the group with `group.source` in a job (an empty group removes it). Unknown jobs are ignored.
        `withheld`: the group was too big to build and has this many targets (its `targets` are empty). Cheap:
        the group is assembled in the next `flush`, and only if the job fits its cap."""
        job = self._jobs.get(job_name)
        if job is None:
            return
        source = group.source
        old = job.groups.get(source)
        if old is not None:
            job.discovered -= job.sizes.pop(source)
            self._bury(old.targets, job.kept.get(source, ()))
        size = withheld or len(group.targets)
        if size:
            job.groups[source] = group
            job.sizes[source] = size
            job.discovered += size
            job.candidates[source] = self._candidates(job, group, size)
            job.kept.pop(source, None)
            job.pending.add(source)
        elif old is not None:
            del job.groups[source]
            del job.candidates[source]
            job.kept.pop(source, None)
            job.pending.discard(source)
        else:
            return
        self._dirty_jobs.add(job_name)

    def replace_groups(
        self, job_name: str, groups: Iterable[TargetGroup], withheld: Mapping[str, int] | None = None
    ) -> None:
        """Make a job's groups exactly `groups` (a job's discovery restarted, or a new job's first sync);
        `withheld` gives the counted size of the groups too big to build, by source."""
        job = self._jobs.get(job_name)
        if job is None:
            return
        sizes = withheld or {}
        fresh = {g.source: g for g in groups if g.targets or sizes.get(g.source)}
        for source in [s for s in job.groups if s not in fresh]:
            self.update_group(job_name, TargetGroup(source))
        for group in fresh.values():
            count = sizes.get(group.source, 0)
            if job.groups.get(group.source) is not group or (count and job.sizes.get(group.source) != count):
                self.update_group(job_name, group, count)
        self._dirty_jobs.add(job_name)

    def _candidates(self, job: _Job, group: TargetGroup, size: int) -> int:
        if self.filtering and group_dropped(job.group_chains, group, job.scrape.settings.seeds()):
            return 0
        return size

    def set_collectors(self, collectors: Iterable[Collector]) -> None:
        new = tuple(sorted({c.name: c for c in collectors}.values(), key=lambda c: c.name))
        if new != self._collectors:
            self._collectors = new
            self._collectors_dirty = True

    def _assemble(self, scrape: ScrapeJob, group: TargetGroup) -> Kept:
        job = scrape.job_name
        if self.filtering:
            kept = [t for t in scrape.assemble_group(group, Mode.ALLOCATOR) if t.final_labels is not None]
        else:
            kept = []
            for target in group.targets:
                raw = {**group.labels, **target}
                merged = {name: value for name, value in raw.items() if value} if "" in raw.values() else raw
                final = tuple(sorted((n, v) for n, v in merged.items() if not n.startswith(META_PREFIX)))
                kept.append(AssembledTarget(job, merged, final, None, (), None if merged is raw else raw))
        return tuple((target_key(job, t.final_labels or ()), t) for t in kept)

    # ------------------------------------------------------------------------------------------- recompute

    @property
    def pending(self) -> bool:
        return bool(self._dirty_jobs) or self._collectors_dirty or self._jobs_dirty or not self._synced_once

    def flush(self) -> FlushResult:
        """Bring the assignment and every served body up to date with what was fed since the last flush.

        May run in a worker thread while the event loop thread reads bodies (each job's bodies are swapped in as a
        whole), but nothing may feed the model meanwhile."""
        self._flushing = True
        try:
            return self._flush()
        finally:
            self._flushing = False

    def abort(self) -> None:
        """Make a running (or the next) flush stop at its next slice with FlushAborted: the process is stopping."""
        self.should_stop = lambda: True

    def _apply_caps(self) -> None:
        """Decide which jobs are over a cap (see the module doc); a job that starts or stops being over is dirty."""
        counts = {name: sum(job.candidates.values()) for name, job in self._jobs.items()}
        over: dict[str, OverCap] = {}
        if self.per_job_limit:
            over = {n: OverCap(c, self.per_job_limit, "per_job") for n, c in counts.items() if c > self.per_job_limit}
        if self.total_limit:
            fitting = sorted(((c, n) for n, c in counts.items() if n not in over), key=lambda cn: (-cn[0], cn[1]))
            total = sum(c for c, _ in fitting)
            for count, name in fitting:  # the largest jobs go first: one runaway job must not starve the rest
                if total <= self.total_limit:
                    break
                over[name] = OverCap(count, self.total_limit, "total")
                total -= count
        for name, job in self._jobs.items():
            now = over.get(name)
            if (job.over is None) != (now is None):
                self._dirty_jobs.add(name)
                if now is not None:  # serve nothing of it, and free what it had assembled
                    self._bury(*job.kept.values())
                    job.kept.clear()
                    job.pending = set(job.groups)
            job.over = now

    def over_cap(self) -> dict[str, OverCap]:
        """The jobs currently not served because of a target cap."""
        return {name: job.over for name, job in self._jobs.items() if job.over is not None}

    def _assemble_pending(self, job: _Job) -> None:
        """Assemble (relabel) the job's pending groups, in slices of SLICE targets between stop checks."""
        stop = self.should_stop
        for source in sorted(job.pending):
            group = job.groups[source]
            if len(group.targets) <= SLICE:
                if stop():
                    raise FlushAborted
                job.kept[source] = self._assemble(job.scrape, group)
                continue
            parts: list[Kept] = []
            for start in range(0, len(group.targets), SLICE):
                if stop():
                    raise FlushAborted
                part = TargetGroup(source, group.targets[start : start + SLICE], group.labels)
                parts.append(self._assemble(job.scrape, part))
            job.kept[source] = tuple(kept for part in parts for kept in part)
        job.pending.clear()

    def _bury(self, *containers: Sequence[object] | Mapping[str, object]) -> None:
        """Keep big containers that are being dropped until the end of the flush, which frees them a slice at a
        time (`_drain`): freeing 100k targets at once is one uninterruptible pause of about 100 ms."""
        self._graveyard.extend(c for c in containers if len(c) > SLICE)

    def _bury_job(self, job: _Job) -> None:
        self._bury(job.targets, *job.kept.values(), *(g.targets for g in job.groups.values()))

    def _drain(self) -> None:
        """Drop the buried containers' references a slice at a time (the elements go when nothing else holds
        them), so another thread gets the interpreter between slices."""
        grave, self._graveyard = self._graveyard, []
        while grave:
            container = grave.pop()
            items: list[object] = list(container.values() if isinstance(container, Mapping) else container)
            del container  # the list holds the elements now: dropping the container frees none of them
            while items:
                del items[-SLICE:]

    def _flush(self) -> FlushResult:
        self._apply_caps()
        dirty = self._dirty_jobs
        self._dirty_jobs = set()
        collectors_changed, self._collectors_dirty = self._collectors_dirty, False
        jobs_changed, self._jobs_dirty = self._jobs_dirty, False
        first, self._synced_once = not self._synced_once, True

        targets_changed = False
        for name in sorted(dirty):
            if self.should_stop():
                raise FlushAborted
            job = self._jobs.get(name)
            if job is not None:
                if job.over is None:
                    self._assemble_pending(job)
                targets_changed |= self._recompute_targets(job)
            else:
                targets_changed = True
        if not (targets_changed or collectors_changed or jobs_changed or first):
            self._drain()
            return FlushResult(frozenset(dirty))

        added, removed = self._added, self._removed
        self._added, self._removed = {}, set()
        if self._market is not None and not (collectors_changed or first):
            stale, moved = self._reassign_incrementally(added, removed, dirty)
        else:
            stale, moved = self._reassign(dirty, everything=collectors_changed or first)
        bodies = self._rebuild_bodies(stale, dirty)
        if dirty or jobs_changed or first:  # only then can the set of jobs with targets have changed
            listed = tuple(name for name, job in sorted(self._jobs.items()) if job.targets)
            if listed != self._listed:
                self._listed = listed
                self._jobs_body = self._render_jobs(listed)
        self._drain()
        return FlushResult(frozenset(dirty), True, moved, bodies)

    def _reassign(self, dirty: set[str], *, everything: bool) -> tuple[set[str], int]:
        """The strategy over every target; the jobs whose bodies are stale, and how many targets moved."""
        old = self._assignment
        refs = [t.ref for job in self._jobs.values() for t in job.targets.values()]
        if isinstance(self.strategy, ConsistentHashing):
            self._market = Market(refs, self._collectors, self.strategy.load_factor)
            self._assignment = self._market.assignment()
        else:
            self._assignment = self.strategy.assign(refs, self._collectors)
        new = self._assignment
        moved = sum(1 for k, c in new.items() if k in old and old[k] != c)
        if everything:
            return set(self._jobs), moved
        stale = set(dirty)
        for name, state in self._jobs.items():  # untouched by the batch, some of whose targets moved collector
            if name not in stale and any(old.get(k) != new.get(k) for k in state.targets):
                stale.add(name)
        return stale, moved

    def _reassign_incrementally(
        self, added: Mapping[str, TargetRef], removed: set[str], dirty: set[str]
    ) -> tuple[set[str], int]:
        """The market takes the batch's new and gone targets and says who moved: only their jobs are stale."""
        assert self._market is not None
        assignment, refs = self._assignment, self._market.refs
        stale, moved = set(dirty), 0
        for key, collector in self._market.update(added.values(), removed).items():
            if key not in refs:  # gone (its job is dirty already)
                assignment.pop(key, None)
                continue
            before = assignment.get(key)
            if before is not None and before != collector:
                moved += 1
            assignment[key] = collector  # None: there is no collector to take it
            stale.add(refs[key].job)
        return stale, moved

    def _recompute_targets(self, job: _Job) -> bool:
        """Dedupe the job's kept targets by identity (of equal ones, the one from the last group source in name
        order wins); True if anything changed."""
        latest: dict[str, AssembledTarget] = {}
        for source in sorted(job.kept):  # source order, not arrival order: every replica serves the same labels
            latest.update(job.kept[source])
        old = job.targets
        fresh: dict[str, ServedTarget] = {}
        changed = latest.keys() != old.keys()
        if changed:
            for key in old.keys() - latest.keys():
                self._removed.add(key)
                self._added.pop(key, None)
        stop, countdown = self.should_stop, SLICE
        for key, target in latest.items():
            countdown -= 1
            if not countdown:
                countdown = SLICE
                if stop():
                    raise FlushAborted
            previous = old.get(key)
            labels = target.allocator_labels
            if previous is not None and (previous.served_labels is labels or previous.served_labels == labels):
                fresh[key] = previous
            else:
                fresh[key] = served = _served(key, target, self._with_node)
                changed = True
                if previous is None:
                    self._added[key] = served.ref
                    self._removed.discard(key)
                elif previous.ref != served.ref:  # its node changed: the strategy must see it again
                    self._removed.add(key)
                    self._added[key] = served.ref
        if len(old) > SLICE:
            self._bury(old)
        job.targets = fresh
        return changed

    def _rebuild_bodies(self, stale_jobs: set[str], dirty: set[str]) -> int:
        """Re-serialise the bodies of `stale_jobs` whose membership changed, and every body of the `dirty` ones
        whose bytes changed."""
        new = self._assignment
        for name in [n for n in self._bodies if n not in self._jobs]:
            del self._bodies[name]
            del self._buckets[name]
        for name in [n for n in self._job_bodies if n not in self._jobs]:
            del self._job_bodies[name]
        rebuilt = 0
        for name in stale_jobs:
            job = self._jobs.get(name)
            if job is None:
                continue
            fresh: dict[str, list[str]] = {}
            for key in job.targets:
                collector = new.get(key)
                if collector is not None:
                    fresh.setdefault(collector, []).append(key)
            old_buckets = self._buckets.get(name, {})
            old_bodies = self._bodies.get(name, {})
            buckets: dict[str, tuple[str, ...]] = {}
            bodies: dict[str, Body] = {}
            for collector, keys in fresh.items():
                ordered = buckets[collector] = tuple(sorted(keys))
                body = old_bodies.get(collector)
                if body is None or old_buckets.get(collector) != ordered or name in dirty:
                    data = b"[" + b",".join(job.targets[k].fragment for k in ordered) + b"]\n"
                    if body is None or body.data != data:
                        body = Body.of(data)
                        rebuilt += 1
                bodies[collector] = body
            self._buckets[name] = buckets
            self._bodies[name] = bodies
            self._job_bodies.pop(name, None)
        return rebuilt

    def _render_job(self, job: str) -> Body:
        """`/jobs/<job>/targets` without collector_id: every collector, with its link and its targets."""
        escaped = quote_plus(job, safe="")
        parts = []
        for c in self._collectors:
            body = self._bodies.get(job, {}).get(c.name, EMPTY_LIST)
            link = orjson.dumps(f"/jobs/{escaped}/targets?collector_id={quote_plus(c.name, safe='')}")
            parts.append(orjson.dumps(c.name) + b':{"_link":' + link + b',"targets":' + body.data.rstrip(b"\n") + b"}")
        return Body.of(b"{" + b",".join(parts) + b"}\n")

    def _render_jobs(self, listed: Sequence[str]) -> Body:
        """`/jobs`: the jobs with at least one kept target (assigned or not), as upstream lists them."""
        jobs = {name: {"_link": jobs_link(name)} for name in listed}
        return Body.of(orjson.dumps(jobs, option=orjson.OPT_SORT_KEYS) + b"\n") if jobs else EMPTY_MAP

    # ------------------------------------------------------------------------------------------- reading

    def targets_body(self, job: str, collector_id: str) -> Body:
        """`/jobs/<job>/targets?collector_id=<id>`: `[]` for an unknown job or collector, never an error."""
        return self._bodies.get(job, {}).get(collector_id, EMPTY_LIST)

    def job_body(self, job: str) -> Body:
        if job not in self._jobs:
            return EMPTY_MAP
        body = self._job_bodies.get(job)
        if body is None:
            body = self._render_job(job)
            if not self._flushing:  # a flush in another thread may be invalidating it right now
                self._job_bodies[job] = body
        return body

    @property
    def jobs_body(self) -> Body:
        return self._jobs_body

    @property
    def collectors(self) -> tuple[Collector, ...]:
        return self._collectors

    def assignment(self) -> Mapping[str, str | None]:
        return self._assignment

    def targets(self, job: str) -> Mapping[str, ServedTarget]:
        """The kept targets of a job by key (for diagnostics)."""
        job_state = self._jobs.get(job)
        return job_state.targets if job_state is not None else {}

    def discovered_counts(self) -> dict[str, int]:
        return {name: job.discovered for name, job in self._jobs.items()}

    def load(self) -> tuple[dict[str, int], int, int]:
        """(targets per collector, unassigned, kept in total)."""
        per = dict.fromkeys((c.name for c in self._collectors), 0)
        unassigned = 0
        for collector in self._assignment.values():
            if collector is None:
                unassigned += 1
            else:
                per[collector] = per.get(collector, 0) + 1
        return per, unassigned, len(self._assignment)
