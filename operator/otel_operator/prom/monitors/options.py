"""What the generator needs from the allocator's configuration: the synthetic Prometheus resource it stands for.

The OTel target allocator builds prometheus-operator's generator on a Prometheus object with the scrape and
evaluation intervals, the scrape classes, `serviceDiscoveryRole: EndpointSlice` and one shard; everything else
keeps prometheus-operator's defaults. The other fields here exist for parity with a Prometheus resource and
default to what the allocator leaves unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ROLE_ENDPOINTS = "Endpoints"
ROLE_ENDPOINTSLICE = "EndpointSlice"

LIMIT_FIELDS = (
    "sampleLimit",
    "targetLimit",
    "labelLimit",
    "labelNameLengthLimit",
    "labelValueLengthLimit",
    "keepDroppedTargets",
)


@dataclass(frozen=True, slots=True)
class GeneratorOptions:
    scrape_interval: str = "30s"  # the Prometheus default interval; bounds a monitor's scrapeTimeout
    evaluation_interval: str = "30s"
    scrape_classes: tuple[Mapping[str, Any], ...] = ()  # Prometheus `scrapeClasses` items, as plain dicts
    deny_fs_access_through_sms: bool = False  # reject ServiceMonitors that read files (bearerTokenFile, *File)
    service_discovery_role: str = ROLE_ENDPOINTSLICE  # for ServiceMonitors without their own
    shards: int = 1
    enforced_namespace_label: str = ""
    pod_target_labels: tuple[str, ...] = ()  # Prometheus-level podTargetLabels, after each monitor's own
    ignore_namespace_selectors: bool = False
    override_honor_labels: bool = False
    override_honor_timestamps: bool = False
    enforced_limits: Mapping[str, int] = field(default_factory=dict)  # keyed by LIMIT_FIELDS, e.g. "sampleLimit"

    def __post_init__(self) -> None:
        if self.service_discovery_role not in (ROLE_ENDPOINTS, ROLE_ENDPOINTSLICE):
            raise ValueError(
                f'service_discovery_role "{self.service_discovery_role}" is not allowed; '
                f'use "{ROLE_ENDPOINTSLICE}" or "{ROLE_ENDPOINTS}"'
            )
        if self.shards < 1:
            raise ValueError(f"shards must be at least 1, got {self.shards}")
        unknown = sorted(set(self.enforced_limits) - set(LIMIT_FIELDS))
        if unknown:
            raise ValueError(f"unknown enforced limits {unknown}; known: {', '.join(LIMIT_FIELDS)}")

    @classmethod
    def from_prometheus_cr(cls, prometheus_cr: Mapping[str, Any]) -> GeneratorOptions:
        """Options from a TargetAllocator's `prometheusCR` block (camelCase, as in the CRD)."""
        classes = prometheus_cr.get("scrapeClasses") or []
        return cls(
            scrape_interval=str(prometheus_cr.get("scrapeInterval") or "30s"),
            evaluation_interval=str(prometheus_cr.get("evaluationInterval") or "30s"),
            scrape_classes=tuple(c for c in classes if isinstance(c, Mapping)),
            deny_fs_access_through_sms=bool(prometheus_cr.get("denyFSAccessThroughSMs")),
        )
