"""The DNS wire format (RFC 1035, EDNS0 of RFC 6891), just what DNS service discovery asks and reads: a query for
one name and type, and the answer section's A, AAAA, SRV, MX, NS and CNAME records. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Final

TYPE_A: Final = 1
TYPE_NS: Final = 2
TYPE_CNAME: Final = 5
TYPE_MX: Final = 15
TYPE_AAAA: Final = 28
TYPE_SRV: Final = 33
TYPE_OPT: Final = 41
TYPES: Final = {"A": TYPE_A, "AAAA": TYPE_AAAA, "SRV": TYPE_SRV, "MX": TYPE_MX, "NS": TYPE_NS}
CLASS_IN: Final = 1
RCODE_SUCCESS: Final = 0
RCODE_NXDOMAIN: Final = 3
EDNS_SIZE: Final = 1232  # miekg/dns's DefaultMsgSize, which Prometheus advertises


class DNSFormatError(ValueError):
    """A message that does not parse."""


@dataclass(frozen=True, slots=True)
class Record:
    """One answer record. `data` is the address (A/AAAA), or the target name, fully qualified (SRV/MX/NS/CNAME)."""

    name: str
    rtype: int
    data: str
    ttl: int = 60
    port: int = 0  # SRV
    priority: int = 0  # SRV, MX (preference)
    weight: int = 0  # SRV


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    rcode: int = RCODE_SUCCESS
    truncated: bool = False
    response: bool = True
    question: tuple[str, int] | None = None  # (name, type)
    answers: tuple[Record, ...] = field(default_factory=tuple)


def fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _encode_name(name: str) -> bytes:
    out = bytearray()
    for label in fqdn(name).split(".")[:-1]:
        raw = label.encode()
        if not raw or len(raw) > 63:
            raise DNSFormatError(f"{name!r}: labels must be 1 to 63 bytes")
        out += bytes([len(raw)]) + raw
    return bytes(out) + b"\x00"


def encode_query(msg_id: int, name: str, qtype: int, *, edns: bool = True) -> bytes:
    """A recursive query (RD set) for `name`, with an EDNS0 OPT record when `edns`."""
    header = struct.pack("!HHHHHH", msg_id, 0x0100, 1, 0, 0, 1 if edns else 0)
    body = _encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)
    if edns:
        body += b"\x00" + struct.pack("!HHIH", TYPE_OPT, EDNS_SIZE, 0, 0)
    return header + body


def _rdata(record: Record) -> bytes:
    if record.rtype == TYPE_A:
        return ipaddress.IPv4Address(record.data).packed
    if record.rtype == TYPE_AAAA:
        return ipaddress.IPv6Address(record.data).packed
    if record.rtype == TYPE_SRV:
        return struct.pack("!HHH", record.priority, record.weight, record.port) + _encode_name(record.data)
    if record.rtype == TYPE_MX:
        return struct.pack("!H", record.priority) + _encode_name(record.data)
    return _encode_name(record.data)  # NS, CNAME


def encode_message(message: Message) -> bytes:
    """A response (for a test's DNS server): the question, then the answers, names uncompressed."""
    flags = (0x8000 if message.response else 0) | 0x0100 | 0x0080 | (0x0200 if message.truncated else 0)
    flags |= message.rcode & 0xF
    qd = 1 if message.question else 0
    out = bytearray(struct.pack("!HHHHHH", message.id, flags, qd, len(message.answers), 0, 0))
    if message.question:
        out += _encode_name(message.question[0]) + struct.pack("!HH", message.question[1], CLASS_IN)
    for record in message.answers:
        rdata = _rdata(record)
        out += _encode_name(record.name) + struct.pack("!HHIH", record.rtype, CLASS_IN, record.ttl, len(rdata)) + rdata
    return bytes(out)


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """A possibly compressed name at `offset`: (name with the final dot, offset after it)."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        if offset >= len(data):
            raise DNSFormatError("name runs past the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DNSFormatError("truncated compression pointer")
            if end < 0:
                end = offset + 2
            jumps += 1
            if jumps > 64:
                raise DNSFormatError("compression loop")
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length & 0xC0:
            raise DNSFormatError("unknown label type")
        offset += 1
        if length == 0:
            break
        labels.append(data[offset : offset + length].decode(errors="replace"))
        offset += length
    return ".".join(labels) + ".", (end if end >= 0 else offset)


def decode_message(data: bytes) -> Message:
    if len(data) < 12:
        raise DNSFormatError("shorter than a DNS header")
    msg_id, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    offset = 12
    question = None
    for _ in range(qd):
        name, offset = _read_name(data, offset)
        qtype, _cls = struct.unpack("!HH", data[offset : offset + 4])
        offset += 4
        question = (name, qtype)
    answers: list[Record] = []
    for _ in range(an):
        name, offset = _read_name(data, offset)
        if offset + 10 > len(data):
            raise DNSFormatError("record header runs past the message")
        rtype, _cls, ttl, length = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        rdata_at, offset = offset, offset + length
        if offset > len(data):
            raise DNSFormatError("record data runs past the message")
        rdata = data[rdata_at:offset]
        if rtype == TYPE_A and length == 4:
            answers.append(Record(name, rtype, str(ipaddress.IPv4Address(rdata)), ttl))
        elif rtype == TYPE_AAAA and length == 16:
            answers.append(Record(name, rtype, str(ipaddress.IPv6Address(rdata)), ttl))
        elif rtype == TYPE_SRV and length >= 7:
            priority, weight, port = struct.unpack("!HHH", rdata[:6])
            target, _ = _read_name(data, rdata_at + 6)
            answers.append(Record(name, rtype, target, ttl, port, priority, weight))
        elif rtype == TYPE_MX and length >= 3:
            (preference,) = struct.unpack("!H", rdata[:2])
            target, _ = _read_name(data, rdata_at + 2)
            answers.append(Record(name, rtype, target, ttl, priority=preference))
        elif rtype in (TYPE_NS, TYPE_CNAME):
            target, _ = _read_name(data, rdata_at)
            answers.append(Record(name, rtype, target, ttl))
        else:
            answers.append(Record(name, rtype, rdata.hex(), ttl))  # kept, and skipped as Prometheus skips it
    return Message(
        msg_id,
        rcode=flags & 0xF,
        truncated=bool(flags & 0x0200),
        response=bool(flags & 0x8000),
        question=question,
        answers=tuple(answers),
    )
