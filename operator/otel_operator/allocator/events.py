"""Kubernetes Events for resources the allocator had to skip, so `kubectl describe servicemonitor x` says why.

Posting is fire-and-forget from a queue drained by one task: a slow or failing API server never delays the model.
Each (object uid, resourceVersion, message) is reported once; a fixed object gets no more Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from otel_operator.allocator.kubeclient import Api, ApiError, send

log = logging.getLogger("otel_operator.allocator.events")

COMPONENT = "otel-operator-allocator"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_body(
    obj: Mapping[str, Any], kind: str, reason: str, message: str, event_type: str = "Warning"
) -> dict[str, Any]:
    """A core/v1 Event about `obj` (as the API returns it)."""
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    name = str(meta.get("name") or "")
    now = _now()
    return {
        "metadata": {"generateName": f"{name}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": kind,
            "name": name,
            "namespace": namespace,
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message[:1024],
        "type": event_type,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": COMPONENT, "host": socket.gethostname()},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname(),
    }


class EventRecorder:
    def __init__(self, api: Api | None) -> None:
        self._api = api
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._seen: set[tuple[str, str, str]] = set()

    def warn(self, obj: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("uid") or meta.get("name")), str(meta.get("resourceVersion")), message)
        if key in self._seen or self._api is None:
            return
        self._seen.add(key)
        with contextlib.suppress(asyncio.QueueFull):  # an Event storm must not grow memory; the log still has it
            self._queue.put_nowait(event_body(obj, kind, reason, message))

    def forget(self, uid: str) -> None:
        self._seen = {k for k in self._seen if k[0] != uid}

    async def run(self) -> None:
        if self._api is None:
            return
        while True:
            body = await self._queue.get()
            try:
                await send(self._api, "POST", f"/api/v1/namespaces/{quote(body['metadata']['namespace'])}/events", body)
            except ApiError as err:
                log.warning(
                    "could not post Event for %s %s/%s: %s %s (the allocator needs RBAC create on events)",
                    body["involvedObject"]["kind"],
                    body["metadata"]["namespace"],
                    body["involvedObject"]["name"],
                    err.status,
                    err.reason,
                )
            except Exception as err:
                log.warning("could not post Event: %s", err)
