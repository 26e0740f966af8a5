#!/usr/bin/env python3
"""Service networking for the real node (hack/realnode.py), in userspace, with IP forwarding off.

  python3 hack/nodenet.py --server https://127.0.0.1:PORT --bridge otelnode0 [--dns 10.0.0.10] [--interval 1]

There is no kube-proxy here (it needs iptables and forwarding, and pods must never reach beyond the machine), so this
one process does its two jobs for the node's pods:
- ClusterIPs: each Service's ClusterIP becomes a /32 on the node's bridge, and a TCP listener on each of its ports
  forwards every connection to a ready endpoint (round robin) of the EndpointSlice port with the same name. Pods have
  a route to the Service range through the node, and a local address needs no forwarding. `default/kubernetes` has no
  endpoints (the apiserver runs with `--endpoint-reconciler-type=none`) and goes to the loopback apiserver.
- Cluster DNS on UDP 53: `svc.ns.svc.cluster.local` (and `svc.ns.svc`, which kopf's in-cluster login uses) answer
  the ClusterIP, or the ready endpoints of a headless Service; `host.svc.ns.svc.cluster.local` answers the endpoint
  with that hostname (StatefulSet pods). Every other name is NXDOMAIN: there is no upstream resolver.

The Services and EndpointSlices are listed from the apiserver every `--interval` seconds (admin token, loopback).
Standard library only, like localcluster.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import ssl
import struct
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import localcluster

log = logging.getLogger("nodenet")
DOMAIN = "cluster.local"
TTL = 5


@dataclass(frozen=True)
class Endpoint:
    ip: str
    hostname: str
    ports: tuple[tuple[str, int], ...]  # (port name, port)


@dataclass
class Model:
    """What the apiserver said at the last poll: ClusterIPs and ready endpoints, by Service."""

    cluster_ips: dict[tuple[str, str], str] = field(default_factory=dict)
    ports: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)  # TCP (name, port)
    endpoints: dict[tuple[str, str], list[Endpoint]] = field(default_factory=dict)


def parse(services: list[dict[str, Any]], slices: list[dict[str, Any]]) -> Model:
    model = Model()
    for svc in services:
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        spec = svc.get("spec", {})
        if spec.get("type") == "ExternalName":
            continue
        model.cluster_ips[key] = spec.get("clusterIP") or "None"
        model.ports[key] = [
            (p.get("name", ""), int(p["port"])) for p in spec.get("ports", []) if p.get("protocol", "TCP") == "TCP"
        ]
    for es in slices:
        owner = es["metadata"].get("labels", {}).get("kubernetes.io/service-name")
        if not owner or es.get("addressType") != "IPv4":
            continue
        ports = tuple((p.get("name") or "", int(p["port"])) for p in es.get("ports") or [] if "port" in p)
        bucket = model.endpoints.setdefault((es["metadata"]["namespace"], owner), [])
        for ep in es.get("endpoints") or []:
            if ep.get("conditions", {}).get("ready") is False:
                continue
            for ip in ep.get("addresses", []):
                bucket.append(Endpoint(ip, ep.get("hostname", ""), ports))
    return model


def resolve(model: Model, name: str) -> list[str] | None:
    """A records for a name (None: no such name)."""
    labels = name.lower().rstrip(".").split(".")
    if labels[-2:] == DOMAIN.split("."):
        labels = labels[:-2]
    if len(labels) < 3 or labels[-1] != "svc":
        return None
    ns, svc = labels[-2], labels[-3]
    ip = model.cluster_ips.get((ns, svc))
    if ip is None:
        return None
    endpoints = model.endpoints.get((ns, svc), [])
    if len(labels) == 4:  # hostname.svc.ns.svc: a StatefulSet pod behind a headless Service
        hits = [e.ip for e in endpoints if e.hostname == labels[0]]
        return hits or None
    if len(labels) != 3:
        return None
    return [ip] if ip != "None" else sorted({e.ip for e in endpoints})


# --------------------------------------------------------------------------- DNS


def dns_answer(model: Model, query: bytes) -> bytes | None:
    """The reply to one DNS query (RFC 1035 wire format); None for what is not a query."""
    if len(query) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    labels, pos = [], 12
    while pos < len(query) and query[pos]:
        n = query[pos]
        labels.append(query[pos + 1 : pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    if pos + 5 > len(query):
        return None
    qtype, qclass = struct.unpack("!HH", query[pos + 1 : pos + 5])
    question = query[12 : pos + 5]
    ips = resolve(model, ".".join(labels))
    rcode = 3 if ips is None else 0  # NXDOMAIN: nothing else exists, and nothing is forwarded
    answers = [ip for ip in ips or [] if qtype in (1, 255) and qclass == 1]
    header = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1, len(answers), 0, 0)
    records = b"".join(
        b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, TTL, 4) + bytes(int(o) for o in ip.split(".")) for ip in answers
    )
    return header + question + records


class DnsServer(asyncio.DatagramProtocol):
    def __init__(self, net: NodeNet) -> None:
        self.net = net
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = dns_answer(self.net.model, data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


# --------------------------------------------------------------------------- ClusterIP proxy


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


class NodeNet:
    def __init__(self, server: str, bridge: str, dns_ip: str) -> None:
        self.server, self.bridge, self.dns_ip = server, bridge, dns_ip
        self.model = Model()
        self.listeners: dict[tuple[str, int], tuple[tuple[str, str], str, asyncio.Server]] = {}
        self.addresses: set[str] = set()
        self.turn = itertools.count()
        api = urlparse(server)
        self.apiserver = (api.hostname or "127.0.0.1", api.port or 443)
        self.tls = ssl.create_default_context()
        self.tls.check_hostname, self.tls.verify_mode = False, ssl.CERT_NONE

    def get(self, path: str) -> list[dict[str, Any]]:
        req = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {localcluster.TOKEN}"})
        with urllib.request.urlopen(req, context=self.tls, timeout=10) as resp:
            return list(json.loads(resp.read())["items"])

    def add_address(self, ip: str) -> None:
        if ip not in self.addresses:
            subprocess.run(["ip", "addr", "replace", f"{ip}/32", "dev", self.bridge], check=True)
            self.addresses.add(ip)

    def backend(self, service: tuple[str, str], port_name: str) -> tuple[str, int] | None:
        if service == ("default", "kubernetes"):
            return self.apiserver
        choices = [
            (e.ip, port) for e in self.model.endpoints.get(service, []) for name, port in e.ports if name == port_name
        ]
        return choices[next(self.turn) % len(choices)] if choices else None

    async def connection(
        self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        service, port_name, _ = self.listeners.get(key, (("", ""), "", None))
        target = self.backend(service, port_name)
        try:
            if target is None:  # like kube-proxy's REJECT: the client sees a refused connection, not a hang
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*target), 5)
            except (OSError, TimeoutError) as err:
                log.info("%s/%s:%s -> %s:%s: %s", *service, port_name, *target, err)
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
            up_writer.close()
        finally:
            writer.close()

    async def sync(self) -> None:
        services, slices = await asyncio.gather(
            asyncio.to_thread(self.get, "/api/v1/services"),
            asyncio.to_thread(self.get, "/apis/discovery.k8s.io/v1/endpointslices"),
        )
        self.model = parse(services, slices)
        wanted: dict[tuple[str, int], tuple[tuple[str, str], str]] = {}
        for service, ip in self.model.cluster_ips.items():
            if ip in ("None", self.dns_ip):
                continue
            for name, port in self.model.ports.get(service, []):
                wanted[(ip, port)] = (service, name)
        for key in [k for k in self.listeners if wanted.get(k) != self.listeners[k][:2]]:
            _, _, server = self.listeners.pop(key)
            server.close()
            log.info("closed %s:%s", *key)
        for key, (service, name) in wanted.items():
            if key in self.listeners:
                continue
            self.add_address(key[0])

            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter, key: tuple[str, int] = key) -> None:
                await self.connection(key, r, w)

            try:
                server = await asyncio.start_server(handle, key[0], key[1], reuse_address=True)
            except OSError as err:
                log.warning("cannot listen on %s:%s for %s/%s: %s", *key, *service, err)
                continue
            self.listeners[key] = (service, name, server)
            log.info("%s:%s -> %s/%s port %r", *key, *service, name or "(unnamed)")
        in_use = {ip for ip, _ in self.listeners} | {self.dns_ip}
        for ip in self.addresses - in_use:
            subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", self.bridge], check=False)  # noqa: ASYNC221 (ms)
            self.addresses.discard(ip)

    async def run(self, interval: float) -> None:
        self.add_address(self.dns_ip)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: DnsServer(self), local_addr=(self.dns_ip, 53))
        log.info("cluster DNS on %s:53", self.dns_ip)
        while True:
            try:
                await self.sync()
            except (OSError, ValueError, KeyError) as err:  # the apiserver restarting: keep the last model
                log.warning("sync failed: %s", err)
            await asyncio.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="the apiserver URL (loopback)")
    parser.add_argument("--bridge", required=True, help="the node's bridge, where ClusterIPs become local addresses")
    parser.add_argument("--dns", default="10.0.0.10", help="the cluster DNS address (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s nodenet %(levelname)s %(message)s")
    asyncio.run(NodeNet(args.server, args.bridge, args.dns).run(args.interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
