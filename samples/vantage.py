"""The same campus traffic captured at two vantage points (issue 13's tests and bench).

The *access* sensor is a SPAN of the core switch, two routed hops from the clients (what
``footprints.pcap`` shows): the seed's three Windows hosts with their Office 365 Footprints
telemetry, a Linux host, plus a NAT with a Linux and a Windows client behind one address and
pings to an internal server.  The *edge* sensor is a tap at the internet edge, ``EDGE_HOPS``
routers further out: it captures every packet that crosses to the internet, later and with a
lower TTL on the way out, earlier and with a higher TTL on the way in.  Traffic to the internal
server never reaches it.

    access, edge = two_vantage_frames()
"""

from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import replace

from samples import craft as c
from samples.craft import Frame
from samples.generate import T0, footprints_frames

#: routers between the access and the edge sensor
EDGE_HOPS = 3
#: capture-time distance between the sensors (path and clocks), each way
EDGE_DELAY_NS = 2_000_000
INSIDE = ipaddress.ip_network("10.0.0.0/8")
NAT = "10.20.7.1"  # a Linux and a Windows client behind one address
INTERNAL_SERVER = "10.30.0.1"
WINDOWS_CLIENT = "10.20.0.40"

ETH = 14
ACCESS_MAC, CORE_MAC = "00:1b:54:c2:11:01", "00:1b:54:c2:11:fe"


def _ip_sum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _at_edge(frame: Frame) -> Frame | None:
    """The frame as the edge captures it, or None when it never crosses the edge."""
    data = frame.data
    if len(data) < ETH + 20 or data[12:14] != b"\x08\x00":
        return None
    src = ipaddress.ip_address(data[ETH + 12:ETH + 16])
    dst = ipaddress.ip_address(data[ETH + 16:ETH + 20])
    if (src in INSIDE) == (dst in INSIDE):
        return None  # inside to inside: stays behind the edge
    outbound = src in INSIDE
    ttl = data[ETH + 8] + (-EDGE_HOPS if outbound else EDGE_HOPS)
    ihl = (data[ETH] & 0x0F) * 4
    header = bytearray(data[ETH:ETH + ihl])
    header[8] = ttl
    header[10:12] = b"\0\0"
    header[10:12] = struct.pack("!H", _ip_sum(bytes(header)))
    ts = frame.ts_ns + (EDGE_DELAY_NS if outbound else -EDGE_DELAY_NS)
    return replace(frame, data=data[:ETH] + bytes(header) + data[ETH + ihl:], ts_ns=ts)


def _extra_frames() -> list[Frame]:
    """Benign hosts the access layer sees besides footprints.pcap's."""
    rng = random.Random(13)
    ev: list[tuple[float, bytes]] = []

    def out(pkt: bytes) -> bytes:
        return c.ethernet(pkt, src=ACCESS_MAC, dst=CORE_MAC)

    def back(pkt: bytes) -> bytes:
        return c.ethernet(pkt, src=CORE_MAC, dst=ACCESS_MAC)

    # the NAT: Linux SYNs and pings (64 at 2 hops) and Windows SYNs and pings (128 at 2 hops)
    for k, (ttl, options) in enumerate(((62, c.LINUX_SYN_OPTIONS), (126, c.WINDOWS_SYN_OPTIONS))
                                       * 3):
        ev.append((5_000 + k * 9_000, out(c.tcp_syn(NAT, "151.101.2.132", 40_000 + k, 443,
                                                    rng.getrandbits(32), ttl, k + 1, options))))
    for n in range(8):
        t = 20_000 + n * 1_000.0
        req = c.echo_request(NAT, "9.9.9.9", 0x2A2A, n + 1, c.payload_linux(T0 / 1e9 + t / 1e3),
                             ttl=62, ip_id=100 + n, df=True)
        ev.append((t, out(req)))
        ev.append((t + 11, back(c.reply_to(req, ttl=58, ip_id=rng.getrandbits(16)))))
        req = c.echo_request(NAT, "8.8.8.8", 1, 500 + n, c.payload_windows(), ttl=126,
                             ip_id=900 + n)
        ev.append((t + 300, out(req)))
        ev.append((t + 314, back(c.reply_to(req, ttl=117, ip_id=0))))
    # a Windows client pinging an internal server: only the access layer sees it
    for k in range(2):
        ev.append((3_000 + k * 61_000, out(c.tcp_syn(WINDOWS_CLIENT, "52.96.165.18", 50_000 + k,
                                                     443, rng.getrandbits(32), 126, 40 + k))))
    for n in range(6):
        t = 30_000 + n * 1_000.0
        req = c.echo_request(WINDOWS_CLIENT, INTERNAL_SERVER, 1, 70 + n, c.payload_windows(),
                             ttl=126, ip_id=200 + n)
        ev.append((t, out(req)))
        ev.append((t + 1, back(c.reply_to(req, ttl=127, ip_id=rng.getrandbits(16)))))
    return [Frame(data, T0 + int(t * 1_000_000)) for t, data in ev]


def two_vantage_frames() -> tuple[list[Frame], list[Frame]]:
    """(access, edge): the access layer's frames and the edge's view of them, each in capture
    order."""
    access = sorted(footprints_frames() + _extra_frames(), key=lambda f: f.ts_ns)
    edge = [e for e in map(_at_edge, access) if e is not None]
    edge.sort(key=lambda f: f.ts_ns)
    return access, edge


def write_two_vantage(directory) -> tuple[str, str]:
    """Write access.pcap and edge.pcap into directory; return their paths."""
    from pathlib import Path

    access, edge = two_vantage_frames()
    paths = Path(directory) / "access.pcap", Path(directory) / "edge.pcap"
    c.write_pcap(paths[0], access)
    c.write_pcap(paths[1], edge)
    return str(paths[0]), str(paths[1])
