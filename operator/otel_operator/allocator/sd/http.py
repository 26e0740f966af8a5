"""`http_sd_configs`: Prometheus's HTTP service discovery, parsed and answered as Prometheus v3 does.

Every refresh_interval (default 60 s) a GET of the URL with `Accept: application/json` and
`X-Prometheus-Refresh-Interval-Seconds`, timing out after refresh_interval. Only a 200 whose Content-Type is
`application/json` (optionally `; charset=utf-8`) and whose body is a JSON list of `{targets, labels}` counts;
anything else is an error, and the last good groups stay. Group i gets source `<url>:<i>` and the label
`__meta_url`; when a later answer has fewer groups, the missing sources are sent empty (removed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from otel_operator.allocator.sd.common import (
    HTTP_CLIENT_KEYS,
    HTTP_CLIENT_UNSUPPORTED,
    HTTPClient,
    SDConfigError,
    SDRefreshError,
    check_keys,
    decode_groups,
    duration,
    http_client,
    mapping,
    text,
)
from otel_operator.prom.model import TargetGroup

KIND: Final = "http_sd_configs"
DEFAULT_REFRESH: Final = 60_000  # ms
URL_LABEL: Final = "__meta_url"
_CONTENT_TYPE: Final = re.compile(r'^(?i:application/json(;\s*charset=("utf-8"|utf-8))?)$')


@dataclass(frozen=True, slots=True)
class HttpSD:
    url: str
    refresh_interval: int  # ms
    client: HTTPClient = field(default_factory=HTTPClient)

    kind = KIND

    @property
    def headers(self) -> dict[str, str]:
        seconds = self.refresh_interval / 1000
        return {
            "Accept": "application/json",
            "X-Prometheus-Refresh-Interval-Seconds": f"{seconds:g}" if seconds != int(seconds) else str(int(seconds)),
        }


def parse_http_sd(raw: object, where: str) -> HttpSD:
    entry = mapping(raw, where)
    check_keys(entry, HTTP_CLIENT_KEYS | {"url", "refresh_interval"}, where, HTTP_CLIENT_UNSUPPORTED)
    url = text(entry, "url", where)
    if not url:
        raise SDConfigError(f"{where}.url: URL is missing")
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise SDConfigError(f"{where}.url: {err}") from None
    if parts.scheme not in ("http", "https"):
        raise SDConfigError(f"{where}.url: URL scheme must be 'http' or 'https'")
    if not parts.netloc:
        raise SDConfigError(f"{where}.url: host is missing in URL")
    refresh = duration(entry, "refresh_interval", where, DEFAULT_REFRESH)
    return HttpSD(url, refresh, http_client(entry, where))


def groups_from_response(url: str, status: int, content_type: str, body: bytes) -> list[TargetGroup]:
    """One answer as Prometheus reads it: the groups with their sources and `__meta_url`; SDRefreshError if
    Prometheus would refuse it."""
    if status != 200:
        raise SDRefreshError(f"server returned HTTP status {status}")
    if not _CONTENT_TYPE.match(content_type.strip()):
        raise SDRefreshError(f"unsupported content type {content_type!r}")
    try:
        value: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise SDRefreshError(f"the body is not JSON: {err}") from None
    groups = decode_groups(value, "body")
    return [TargetGroup(f"{url}:{i}", g.targets, {**g.labels, URL_LABEL: url}) for i, g in enumerate(groups)]


def removals(url: str, count: int, previous: int) -> list[TargetGroup]:
    """The empty groups that remove sources `count`..`previous - 1` of `url`."""
    return [TargetGroup(f"{url}:{i}") for i in range(count, previous)]
