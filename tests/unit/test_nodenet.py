"""hack/nodenet.py's pure parts: what the apiserver's lists become, which names resolve to what, and the DNS wire
format (checked by decoding replies by hand, as a stub resolver does)."""

from __future__ import annotations

import struct
from typing import Any

import pytest

import nodenet

SERVICES: list[dict[str, Any]] = [
    {"metadata": {"namespace": "default", "name": "kubernetes"},
     "spec": {"clusterIP": "10.0.0.1", "ports": [{"name": "https", "port": 443}]}},
    {"metadata": {"namespace": "obs", "name": "ta"},
     "spec": {"clusterIP": "10.0.0.40", "ports": [{"name": "targetallocation", "port": 80, "protocol": "TCP"},
                                                  {"name": "dns", "port": 53, "protocol": "UDP"}]}},
    {"metadata": {"namespace": "obs", "name": "col-headless"}, "spec": {"clusterIP": "None", "ports": []}},
    {"metadata": {"namespace": "obs", "name": "ext"}, "spec": {"type": "ExternalName", "externalName": "x.example"}},
]  # fmt: skip
SLICES: list[dict[str, Any]] = [
    {"metadata": {"namespace": "obs", "labels": {"kubernetes.io/service-name": "ta"}}, "addressType": "IPv4",
     "ports": [{"name": "targetallocation", "port": 8080}],
     "endpoints": [{"addresses": ["10.244.0.7"], "conditions": {"ready": True}},
                   {"addresses": ["10.244.0.8"], "conditions": {"ready": False}}]},
    {"metadata": {"namespace": "obs", "labels": {"kubernetes.io/service-name": "col-headless"}}, "addressType": "IPv4",
     "ports": [], "endpoints": [{"addresses": ["10.244.0.5"], "hostname": "col-0", "conditions": {}},
                                {"addresses": ["10.244.0.6"], "hostname": "col-1", "conditions": {"ready": True}}]},
    {"metadata": {"namespace": "obs", "labels": {"kubernetes.io/service-name": "ta"}}, "addressType": "IPv6",
     "ports": [], "endpoints": [{"addresses": ["fd00::7"]}]},
]  # fmt: skip


def model() -> nodenet.Model:
    return nodenet.parse(SERVICES, SLICES)


def test_parse_keeps_tcp_ports_and_ready_ipv4_endpoints() -> None:
    m = model()
    assert m.cluster_ips == {("default", "kubernetes"): "10.0.0.1", ("obs", "ta"): "10.0.0.40",
                             ("obs", "col-headless"): "None"}  # fmt: skip
    assert m.ports[("obs", "ta")] == [("targetallocation", 80)]  # UDP is not proxied
    assert [e.ip for e in m.endpoints[("obs", "ta")]] == ["10.244.0.7"]  # not ready: left out; IPv6: ignored
    assert [(e.ip, e.hostname) for e in m.endpoints[("obs", "col-headless")]] == [
        ("10.244.0.5", "col-0"),  # no ready condition means ready
        ("10.244.0.6", "col-1"),
    ]


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("kubernetes.default.svc", ["10.0.0.1"]),  # kopf's in-cluster login
        ("kubernetes.default.svc.cluster.local.", ["10.0.0.1"]),
        ("TA.obs.svc.cluster.local", ["10.0.0.40"]),  # names are case-insensitive
        ("col-headless.obs.svc.cluster.local", ["10.244.0.5", "10.244.0.6"]),  # headless: the endpoints
        ("col-1.col-headless.obs.svc.cluster.local", ["10.244.0.6"]),  # a StatefulSet pod
        ("col-9.col-headless.obs.svc.cluster.local", None),
        ("ta.other.svc.cluster.local", None),
        ("ta.obs.svc.obs.svc.cluster.local", None),  # a search-list expansion of an absolute name
        ("ext.obs.svc.cluster.local", None),  # ExternalName: no upstream to chase it
        ("example.com", None),
        ("cluster.local", None),
    ],
)
def test_resolve(name: str, answer: list[str] | None) -> None:
    assert nodenet.resolve(model(), name) == answer


def query(name: str, qtype: int = 1, qid: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", qtype, 1)


def decode(reply: bytes) -> tuple[int, int, list[str]]:
    """(id, rcode, A records) of a reply whose answers use a pointer to the question's name."""
    qid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", reply[:12])
    assert flags & 0x8000  # a response
    assert qd == 1
    pos = reply.index(b"\0", 12) + 5
    ips = []
    for _ in range(an):
        pointer, rtype, rclass, _ttl, length = struct.unpack("!HHHIH", reply[pos : pos + 12])
        assert (pointer, rtype, rclass, length) == (0xC00C, 1, 1, 4)
        ips.append(".".join(str(b) for b in reply[pos + 12 : pos + 16]))
        pos += 16
    assert pos == len(reply)
    return qid, flags & 0xF, ips


def test_dns_answers_a_records_nxdomain_and_empty_aaaa() -> None:
    m = model()
    assert decode(nodenet.dns_answer(m, query("ta.obs.svc.cluster.local")) or b"") == (0x1234, 0, ["10.0.0.40"])
    assert decode(nodenet.dns_answer(m, query("nowhere.example")) or b"") == (0x1234, 3, [])  # NXDOMAIN
    # AAAA of a name that exists: NOERROR with no answer, so a resolver asking both does not give up on the name
    assert decode(nodenet.dns_answer(m, query("ta.obs.svc.cluster.local", qtype=28)) or b"") == (0x1234, 0, [])


@pytest.mark.parametrize("junk", [b"", b"\x00" * 11, query("a.b")[:-2], struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 0)])
def test_dns_ignores_what_is_not_a_query(junk: bytes) -> None:
    assert nodenet.dns_answer(model(), junk) is None


def test_backends_round_robin_over_ready_endpoints_of_the_named_port() -> None:
    net = nodenet.NodeNet("https://127.0.0.1:6443", "br0", "10.0.0.10")
    net.model = nodenet.parse(SERVICES, [{**SLICES[0], "endpoints": [
        {"addresses": ["10.244.0.7"]}, {"addresses": ["10.244.0.9"]}]}])  # fmt: skip
    picks = [net.backend(("obs", "ta"), "targetallocation") for _ in range(4)]
    assert sorted(picks[:2]) == [("10.244.0.7", 8080), ("10.244.0.9", 8080)]
    assert picks[2:] == picks[:2]
    assert net.backend(("obs", "ta"), "other-port") is None
    assert net.backend(("default", "kubernetes"), "https") == ("127.0.0.1", 6443)  # the loopback apiserver
