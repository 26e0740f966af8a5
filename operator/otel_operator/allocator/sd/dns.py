"""`dns_sd_configs`: targets from DNS A, AAAA, SRV, MX or NS records, as Prometheus v3 looks them up.

Each name is its own group (source: the name). Every answer record of a known type becomes a target: SRV gives
`<target>:<port>` with `__meta_dns_srv_record_target` / `_port`, MX and NS give `<host>:<port>` with
`__meta_dns_mx_record_target` / `__meta_dns_ns_record_target`, A and AAAA `<address>:<port>`; every target carries
`__meta_dns_name` and all five record labels (empty where they do not apply); CNAMEs are skipped. Names go
through the resolver's search list (/etc/resolv.conf: nameserver, search, ndots) like miekg/dns's NameList; each
is asked of each nameserver in turn until one gives an answer or NXDOMAIN, over UDP with EDNS0, again over TCP
when truncated. A name whose lookup fails keeps its last group; NXDOMAIN everywhere empties it.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from otel_operator.allocator.sd import dnswire
from otel_operator.allocator.sd.common import SDConfigError, SDRefreshError, check_keys, duration, mapping, text
from otel_operator.prom.discovery.common import join_host_port
from otel_operator.prom.model import TargetGroup

KIND: Final = "dns_sd_configs"
DEFAULT_REFRESH: Final = 30_000  # ms
NAME_LABEL: Final = "__meta_dns_name"
SRV_TARGET: Final = "__meta_dns_srv_record_target"
SRV_PORT: Final = "__meta_dns_srv_record_port"
MX_TARGET: Final = "__meta_dns_mx_record_target"
NS_TARGET: Final = "__meta_dns_ns_record_target"
RESOLV_CONF: Final = "/etc/resolv.conf"


@dataclass(frozen=True, slots=True)
class DnsSD:
    names: tuple[str, ...]
    type: str  # A, AAAA, SRV, MX, NS
    port: int
    refresh_interval: int  # ms

    kind = KIND

    @property
    def qtype(self) -> int:
        return dnswire.TYPES[self.type]


def parse_dns_sd(raw: object, where: str) -> DnsSD:
    entry = mapping(raw, where)
    check_keys(entry, frozenset({"names", "type", "port", "refresh_interval"}), where, frozenset())
    names = entry.get("names")
    if not names:
        raise SDConfigError(f"{where}.names: DNS-SD config must contain at least one SRV record name")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SDConfigError(f"{where}.names: must be a list of DNS names")
    rtype = (text(entry, "type", where) or "SRV").upper()
    if rtype not in dnswire.TYPES:
        raise SDConfigError(f"{where}.type: invalid DNS-SD records type {rtype}; use A, AAAA, SRV, MX or NS")
    port = entry.get("port") or 0
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise SDConfigError(f"{where}.port: must be a port number")
    if rtype != "SRV" and port == 0:
        raise SDConfigError(f"{where}.port: a port is required in DNS-SD configs for all record types except SRV")
    return DnsSD(tuple(names), rtype, int(port), duration(entry, "refresh_interval", where, DEFAULT_REFRESH))


def group_for(name: str, port: int, answers: Sequence[dnswire.Record]) -> TargetGroup:
    """The group of one name from its answer records (Prometheus's refreshOne)."""
    targets: list[dict[str, str]] = []
    for record in answers:
        srv_target = srv_port = mx = ns = ""
        if record.rtype == dnswire.TYPE_SRV:
            srv_target, srv_port = record.data, str(record.port)
            address = join_host_port(record.data.rstrip("."), record.port)
        elif record.rtype == dnswire.TYPE_MX:
            mx = record.data
            address = join_host_port(record.data.rstrip("."), port)
        elif record.rtype == dnswire.TYPE_NS:
            ns = record.data
            address = join_host_port(record.data.rstrip("."), port)
        elif record.rtype in (dnswire.TYPE_A, dnswire.TYPE_AAAA):
            address = join_host_port(record.data, port)
        else:
            continue  # CNAME (an A query may bring one) and anything else
        targets.append(
            {
                "__address__": address,
                NAME_LABEL: name,
                SRV_TARGET: srv_target,
                SRV_PORT: srv_port,
                MX_TARGET: mx,
                NS_TARGET: ns,
            }
        )
    return TargetGroup(name, tuple(targets))


# --- the resolver -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvConf:
    servers: tuple[str, ...] = ("127.0.0.1",)
    search: tuple[str, ...] = ()
    ndots: int = 1
    port: int = 53
    timeout: float = 5.0
    attempts: int = 2


def parse_resolv_conf(content: str) -> ResolvConf:
    """resolv.conf as miekg/dns reads it: nameserver lines, the last search/domain line, ndots/timeout/attempts."""
    servers: list[str] = []
    search: tuple[str, ...] = ()
    ndots, timeout, attempts = 1, 5.0, 2
    for line in content.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        key, args = fields[0], fields[1:]
        if key == "nameserver" and args:
            servers.append(args[0].split("%", 1)[0] if ":" in args[0] else args[0])
        elif key in ("search", "domain") and args:
            search = tuple(fqdn for fqdn in args) if key == "search" else (args[0],)
        elif key == "options":
            for option in args:
                name, _, value = option.partition(":")
                if name == "ndots" and value.isdigit():
                    ndots = min(int(value), 15)
                elif name == "timeout" and value.isdigit():
                    timeout = max(float(value), 1.0)
                elif name == "attempts" and value.isdigit():
                    attempts = max(int(value), 1)
    return ResolvConf(tuple(servers) or ("127.0.0.1",), search, ndots, 53, timeout, attempts)


def name_list(conf: ResolvConf, name: str) -> list[str]:
    """miekg/dns's ClientConfig.NameList: a rooted name alone; else with enough dots first, then each search
    domain appended, then (with too few dots) the name itself."""
    if name.endswith("."):
        return [name]
    has_ndots = len([label for label in name.split(".") if label]) > conf.ndots
    rooted = dnswire.fqdn(name)
    names = [rooted] if has_ndots else []
    names += [dnswire.fqdn(rooted + s) for s in conf.search]
    if not has_ndots:
        names.append(rooted)
    return names


# ask(server address, name, type, over TCP) → the answer
Ask = Callable[[tuple[str, int], str, int, bool], Awaitable[dnswire.Message]]


async def lookup(conf: ResolvConf, name: str, qtype: int, ask: Ask) -> list[dnswire.Record]:
    """Prometheus's lookupWithSearchPath: the first successful answer's records; [] if every name was NXDOMAIN
    everywhere; SDRefreshError if some name got no viable answer from any server."""
    all_valid = True
    for candidate in name_list(conf, name):
        response = await _from_any_server(conf, candidate, qtype, ask)
        if response is None:
            all_valid = False
        elif response.rcode == dnswire.RCODE_SUCCESS:
            return list(response.answers)
    if all_valid:
        return []
    raise SDRefreshError(f"could not resolve {name!r}: all servers responded with errors to at least one search domain")


async def _from_any_server(conf: ResolvConf, name: str, qtype: int, ask: Ask) -> dnswire.Message | None:
    for server in conf.servers:
        address = (server, conf.port)
        try:
            response = await ask(address, name, qtype, False)
            if response.truncated:
                response = await ask(address, name, qtype, True)
                if response.truncated:
                    continue
        except (OSError, TimeoutError, dnswire.DNSFormatError):
            continue
        if response.rcode in (dnswire.RCODE_SUCCESS, dnswire.RCODE_NXDOMAIN):
            return response
    return None


# --- the network (thin) -----------------------------------------------------------------------------------------

_ids = itertools.count(1)


@dataclass
class _UDPAnswer(asyncio.DatagramProtocol):
    expect: int
    done: asyncio.Future[bytes] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == self.expect and not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


def network_ask(timeout: float = 5.0) -> Ask:
    """The real `ask`: UDP with EDNS0 (TCP without, as Prometheus retries truncated answers), `timeout` each."""

    async def ask(address: tuple[str, int], name: str, qtype: int, tcp: bool) -> dnswire.Message:
        msg_id = next(_ids) & 0xFFFF
        query = dnswire.encode_query(msg_id, name, qtype, edns=not tcp)
        if tcp:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
            try:
                writer.write(struct.pack("!H", len(query)) + query)
                await writer.drain()
                (length,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), timeout))
                data = await asyncio.wait_for(reader.readexactly(length), timeout)
            finally:
                writer.close()
        else:
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.create_datagram_endpoint(lambda: _UDPAnswer(msg_id), remote_addr=address)
            try:
                transport.sendto(query)
                data = await asyncio.wait_for(protocol.done, timeout)
            finally:
                transport.close()
        message = dnswire.decode_message(data)
        if message.id != msg_id:
            raise dnswire.DNSFormatError("answer to another query")
        return message

    return ask
