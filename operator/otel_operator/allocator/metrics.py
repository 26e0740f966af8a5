"""The allocator's own metrics, under upstream's names so existing dashboards and alerts keep working.

Each allocator gets its own registry (several run in one test process). Differences from upstream, on purpose:
`targets_unassigned` is always set (upstream records it only when > 0, so it never returns to 0), and the duration
histograms have sub-second buckets (upstream's default OpenTelemetry buckets start at 5 s for seconds-valued data).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class AllocatorMetrics:
    def __init__(self, strategy: str) -> None:
        self.strategy = strategy
        self.registry = CollectorRegistry()
        r = self.registry
        self.targets = Gauge(
            "opentelemetry_allocator_targets",
            "Targets discovered per job, before relabel filtering.",
            ["job_name"],
            registry=r,
        )
        self.targets_remaining = Gauge(
            "opentelemetry_allocator_targets_remaining", "Targets kept after relabel filtering, all jobs.", registry=r
        )
        self.targets_per_collector = Gauge(
            "opentelemetry_allocator_targets_per_collector",
            "Targets assigned to each collector.",
            ["collector_name", "strategy"],
            registry=r,
        )
        self.targets_unassigned = Gauge(
            "opentelemetry_allocator_targets_unassigned", "Kept targets no collector could take.", registry=r
        )
        self.collectors_allocatable = Gauge(
            "opentelemetry_allocator_collectors_allocatable",
            "Collectors that may receive targets.",
            ["strategy"],
            registry=r,
        )
        self.collectors_discovered = Gauge(
            "opentelemetry_allocator_collectors_discovered", "Collectors found (static or by pod watch).", registry=r
        )
        self.time_to_allocate = Histogram(
            "opentelemetry_allocator_time_to_allocate",
            "Seconds to compute an assignment.",
            ["method", "strategy"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.process_targets = Histogram(
            "opentelemetry_allocator_process_targets_duration_seconds",
            "Seconds to bring the served responses up to date after a batch of changes.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.http_duration = Histogram(
            "opentelemetry_allocator_http_duration_seconds",
            "Seconds to answer an HTTP request, by route.",
            ["path"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            "opentelemetry_allocator_events", "Configuration events processed, by source.", ["source"], registry=r
        )
        self.config_errors = Gauge(
            "opentelemetry_allocator_invalid_scrape_resources",
            "Monitors and scrape configs currently skipped because they are invalid.",
            registry=r,
        )
        self.propagation = Histogram(
            "opentelemetry_allocator_propagation_seconds",
            "Seconds from a watch event to the responses that reflect it.",
            buckets=FAST_BUCKETS,
            registry=r,
        )

        self.jobs_over_cap = Gauge(
            "opentelemetry_allocator_jobs_over_target_cap",
            "Jobs not served because their candidate targets exceed a target cap (target_limits), by cap.",
            ["cap"],
            registry=r,
        )
        self.job_targets_over_cap = Gauge(
            "opentelemetry_allocator_job_targets_over_cap",
            "Candidate targets of each job that is not served because of a target cap.",
            ["job_name", "cap"],
            registry=r,
        )
        self.target_cap = Gauge(
            "opentelemetry_allocator_target_cap",
            "The configured target caps (0: none), by cap.",
            ["cap"],
            registry=r,
        )

    def set_over_cap(self, over: dict[str, tuple[int, str]]) -> None:
        """`over`: job → (candidate targets, which cap) for every job currently skipped."""
        self.job_targets_over_cap.clear()
        counts = dict.fromkeys(("per_job", "total"), 0)
        for job, (count, which) in over.items():
            self.job_targets_over_cap.labels(job, which).set(count)
            counts[which] = counts.get(which, 0) + 1
        for which, n in counts.items():
            self.jobs_over_cap.labels(which).set(n)

    def set_assignment(self, per_collector: dict[str, int], unassigned: int, remaining: int) -> None:
        self.targets_per_collector.clear()
        for name, count in per_collector.items():
            self.targets_per_collector.labels(name, self.strategy).set(count)
        self.targets_unassigned.set(unassigned)
        self.targets_remaining.set(remaining)
        self.collectors_allocatable.labels(self.strategy).set(len(per_collector))

    def set_job_counts(self, discovered: dict[str, int]) -> None:
        self.targets.clear()
        for job, count in discovered.items():
            self.targets.labels(job).set(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
