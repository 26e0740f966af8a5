"""Leader election on a coordination.k8s.io Lease, so several operator replicas are safe: one reconciles, the others
wait to take over. The same protocol as client-go's leaderelection (and so upstream's operator): the holder renews
`renewTime` every `retry` seconds; a Lease not renewed for `duration` seconds may be taken by another replica; every
write carries the resourceVersion it read, so two replicas can never both win. A holder that cannot renew within
`renew_deadline` stops leading (the process exits and its pod restarts as a candidate); a holder that stops cleanly
releases the Lease, so the next replica takes over at once instead of after `duration`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from otel_operator.reconcile.kube import Kube, KubeError

log = logging.getLogger("otel_operator.leader")


class LeadershipLost(Exception):
    """The Lease could not be renewed in time: another replica may lead now, so this one must stop."""


def _now() -> datetime:
    return datetime.now(UTC)


def _format(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def default_identity() -> str:
    """The pod name (unique while it runs) plus a random suffix (unique across restarts)."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass
class LeaderElector:
    kube: Kube
    namespace: str
    name: str = "otel-operator"
    identity: str = field(default_factory=default_identity)
    duration: float = 15.0  # seconds a Lease stays valid without renewal
    renew_deadline: float = 10.0  # seconds a holder keeps trying to renew before giving up
    retry: float = 2.0  # seconds between attempts
    _lease: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{self.name}"

    def _spec(self, acquired: datetime | None, transitions: int) -> dict[str, Any]:
        now = _now()
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.duration)),
            "acquireTime": _format(acquired or now),
            "renewTime": _format(now),
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the Lease afterwards."""
        current = await self.kube.get(self.path)
        if current is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(None, 0),
            }
            try:
                self._lease = await self.kube.request("POST", self.path.rsplit("/", 1)[0], body=body)
            except KubeError as err:
                if err.status == 409:  # another replica created it first
                    return False
                raise
            return True
        spec = current.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
        valid_for = timedelta(seconds=float(spec.get("leaseDurationSeconds") or self.duration))
        ours = holder == self.identity
        if not ours and holder and renewed is not None and renewed + valid_for > _now():
            return False  # somebody else holds a live Lease
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        acquired = _parse(spec.get("acquireTime")) if ours else None
        body = {**current, "spec": self._spec(acquired, transitions)}  # carries the resourceVersion we read
        try:
            self._lease = await self.kube.request("PUT", self.path, body=body)
        except KubeError as err:
            if err.status == 409:  # it changed since we read it: somebody else won this round
                return False
            raise
        if not ours:
            log.info("became the leader (lease %s/%s, identity %s)", self.namespace, self.name, self.identity)
        return True

    async def acquire(self) -> None:
        """Wait until this replica leads."""
        waiting_logged = False
        while True:
            try:
                if await self.try_acquire_or_renew():
                    return
            except KubeError as err:
                log.warning("could not read or write lease %s/%s: %s", self.namespace, self.name, err)
            if not waiting_logged:
                log.info("another replica leads (lease %s/%s); waiting to take over", self.namespace, self.name)
                waiting_logged = True
            await asyncio.sleep(self.retry)

    async def keep(self) -> None:
        """Renew until cancelled; raise LeadershipLost when renewal fails for longer than `renew_deadline`."""
        last = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self.retry)
            try:
                if await self.try_acquire_or_renew():
                    last = asyncio.get_running_loop().time()
                    continue
                raise LeadershipLost(f"lease {self.namespace}/{self.name} is held by another replica now")
            except KubeError as err:
                log.warning("could not renew lease %s/%s: %s", self.namespace, self.name, err)
            if asyncio.get_running_loop().time() - last > self.renew_deadline:
                raise LeadershipLost(f"could not renew lease {self.namespace}/{self.name} for {self.renew_deadline}s")

    async def release(self) -> None:
        """Give the Lease up (clean shutdown), so another replica need not wait for it to expire."""
        current = await self.kube.get(self.path)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        spec = {**current["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
        try:
            await self.kube.request("PUT", self.path, body={**current, "spec": spec})
        except KubeError as err:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, err)
