"""Hand-made frames and capture files for oddping's samples, tests and benchmarks.

Everything here builds plain ``bytes`` with :mod:`struct` (checksums from dpkt), one layer per
function, so a test reads like the packet it sends::

    pkt = echo_request("10.20.0.15", "13.107.4.52", ident=0x3C1A, seq=40,
                       payload=payload_zeros(2), ttl=28)
    frame = ethernet(pkt)                               # padded to 60 bytes like a real NIC
    write_pcap("footprints.pcap", [Frame(frame, ts_ns=1_678_784_400_000_000_000)])

Layers, innermost first:

* ICMP / ICMPv6 messages: :func:`icmp_message`, :func:`icmpv6_message`; TCP and UDP segments.
* IP: :func:`ipv4_packet`, :func:`ipv6_packet` (with :func:`hop_by_hop`, :func:`dest_options`,
  :func:`fragment_header`), :func:`fragment_ipv4`, :func:`fragment_ipv6`.
* whole packets: :func:`echo_request`, :func:`echo_reply`, :func:`dest_unreachable`,
  :func:`time_exceeded`, :func:`tcp_syn`, :func:`tcp_synack`, :func:`tcp_packet`,
  :func:`udp_packet`; the IP version follows the addresses.
* tunnels as seen on mirror ports: :func:`vxlan`, :func:`gre`, :func:`gre_teb`, :func:`erspan2`,
  :func:`erspan3`, :func:`ip_in_ip` (IPIP, 6in4, 4in6, 6in6 by the address families).
* link layers: :func:`ethernet` (802.1Q / 802.1ad tags, 60-byte minimum padding),
  :func:`linux_sll`, :func:`linux_sll2`, :func:`raw_ip`, :func:`loopback`; :func:`link` picks one
  by name.
* payloads of known senders: ``payload_windows()``, ``payload_linux(ts)``, ... (see
  ``oddping/payload_classes.py``).
* capture files: :func:`pcap_bytes`, :func:`pcapng_bytes`, :func:`write_pcap`,
  :func:`write_pcapng` (gzip when the name ends in ``.gz``).

Nothing here validates: a test may ask for a wrong length, a bad checksum or a short header on
purpose (``total_len=``, ``ihl=``, ``checksum=``, ``payload_len=`` ...).
"""

from __future__ import annotations

import gzip as _gzip
import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from dpkt import in_cksum, in_cksum_add, in_cksum_done

# ---------------------------------------------------------------------------------------------
# constants

LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in the capturing host's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IPv4/IPv6 (DLT_RAW is 12 or 14 on some systems; files use 101)
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

LINKTYPES = {
    "ethernet": LINKTYPE_ETHERNET,
    "linux_sll": LINKTYPE_LINUX_SLL,
    "linux_sll2": LINKTYPE_LINUX_SLL2,
    "raw": LINKTYPE_RAW,
    "loopback": LINKTYPE_NULL,
}

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_8021Q = 0x8100
ETH_8021AD = 0x88A8
ETH_TEB = 0x6558  # GRE transparent Ethernet bridging
ETH_ERSPAN2 = 0x88BE  # also ERSPAN type I (without the GRE sequence number)
ETH_ERSPAN3 = 0x22EB

PROTO_HOPOPTS = 0
PROTO_ICMP = 1
PROTO_IPIP = 4
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_IPV6 = 41
PROTO_FRAGMENT = 44
PROTO_GRE = 47
PROTO_ICMPV6 = 58
PROTO_NONE = 59
PROTO_DSTOPTS = 60

VXLAN_PORT = 4789

# BSD loopback address families for IPv6 differ per OS: NetBSD/OpenBSD 24, FreeBSD 28, macOS 30
AF_INET = 2
AF_INET6_BSD = 24
AF_INET6_FREEBSD = 28
AF_INET6_DARWIN = 30

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

ROUTER_MAC = "00:1b:54:c2:11:01"
HOST_MAC = "3c:52:82:4a:7e:15"


# ---------------------------------------------------------------------------------------------
# small helpers


def _addr(a: str) -> bytes:
    return ipaddress.ip_address(a).packed


def _is6(a: str) -> bool:
    return ipaddress.ip_address(a).version == 6


def _mac(m: str | bytes) -> bytes:
    if isinstance(m, bytes):
        return m
    return bytes(int(x, 16) for x in m.split(":"))


def _pseudo_sum(src: str, dst: str, proto: int, length: int) -> int:
    s, d = _addr(src), _addr(dst)
    if len(s) == 4:
        hdr = s + d + struct.pack("!BBH", 0, proto, length)
    else:
        hdr = s + d + struct.pack("!I3xB", length, proto)
    return in_cksum_add(0, hdr)


def _l4_checksum(src: str, dst: str, proto: int, segment: bytes) -> int:
    return in_cksum_done(in_cksum_add(_pseudo_sum(src, dst, proto, len(segment)), segment))


# ---------------------------------------------------------------------------------------------
# ICMP, TCP, UDP


def icmp_message(type_: int, code: int = 0, rest: bytes = b"\0\0\0\0", data: bytes = b"",
                 checksum: int | None = None) -> bytes:
    """ICMPv4: type, code, checksum, the 4 type-specific bytes (``rest``), then the data."""
    body = struct.pack("!BBH", type_, code, 0) + rest + data
    ck = in_cksum(body) if checksum is None else checksum
    return body[:2] + struct.pack("!H", ck) + body[4:]


def icmpv6_message(src: str, dst: str, type_: int, code: int = 0, rest: bytes = b"\0\0\0\0",
                   data: bytes = b"", checksum: int | None = None) -> bytes:
    """ICMPv6 (checksum over the IPv6 pseudo-header of ``src``/``dst``)."""
    body = struct.pack("!BBH", type_, code, 0) + rest + data
    ck = _l4_checksum(src, dst, PROTO_ICMPV6, body) if checksum is None else checksum
    return body[:2] + struct.pack("!H", ck) + body[4:]


def echo_message(src: str, dst: str, ident: int, seq: int, payload: bytes = b"",
                 reply: bool = False, code: int = 0, checksum: int | None = None) -> bytes:
    """An echo request/reply message (ICMP type 8/0 or ICMPv6 128/129 after the addresses)."""
    rest = struct.pack("!HH", ident, seq)
    if _is6(src):
        return icmpv6_message(src, dst, 129 if reply else 128, code, rest, payload, checksum)
    return icmp_message(0 if reply else 8, code, rest, payload, checksum)


def tcp_segment(src: str, dst: str, sport: int, dport: int, flags: int = TCP_ACK,
                seq: int = 0, ack: int = 0, payload: bytes = b"", window: int = 64240,
                options: bytes = b"") -> bytes:
    options += b"\0" * (-len(options) % 4)
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0)
    seg = hdr + options + payload
    ck = _l4_checksum(src, dst, PROTO_TCP, seg)
    return seg[:16] + struct.pack("!H", ck) + seg[18:]


def udp_datagram(src: str, dst: str, sport: int, dport: int, payload: bytes = b"",
                 checksum: bool = True) -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    if not checksum and not _is6(src):
        return seg
    ck = _l4_checksum(src, dst, PROTO_UDP, seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", ck) + seg[8:]


# ---------------------------------------------------------------------------------------------
# IPv4 / IPv6


def ipv4_packet(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64, ip_id: int = 0,
                df: bool = False, mf: bool = False, frag_offset: int = 0, tos: int = 0,
                options: bytes = b"", total_len: int | None = None, ihl: int | None = None,
                checksum: int | None = None) -> bytes:
    """An IPv4 datagram.  ``frag_offset`` is in bytes (a multiple of 8).

    ``total_len``/``ihl``/``checksum`` override the computed values (for damaged packets).
    """
    options += b"\0" * (-len(options) % 4)  # end-of-options padding
    hl = (20 + len(options)) // 4 if ihl is None else ihl
    tl = 20 + len(options) + len(payload) if total_len is None else total_len
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | ((frag_offset // 8) & 0x1FFF)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | (hl & 0xF), tos, tl & 0xFFFF, ip_id & 0xFFFF,
                      flags, ttl, proto, 0, _addr(src), _addr(dst)) + options
    ck = in_cksum(hdr) if checksum is None else checksum
    return hdr[:10] + struct.pack("!H", ck) + hdr[12:] + payload


@dataclass(frozen=True)
class ExtHeader:
    """An IPv6 extension header; its next-header byte is filled in when the packet is built."""

    proto: int  # the value that names this header in the previous next-header field
    body: bytes  # everything after the next-header byte

    def encode(self, next_header: int) -> bytes:
        return bytes([next_header]) + self.body


def _tlv_options(options: bytes) -> bytes:
    """Options area of a hop-by-hop / destination-options header, padded (PadN/Pad1) to 8n."""
    need = -(2 + len(options)) % 8
    if need == 1:
        options += b"\0"  # Pad1
    elif need:
        options += bytes([1, need - 2]) + b"\0" * (need - 2)  # PadN
    return options


def hop_by_hop(options: bytes = b"\x05\x02\x00\x00") -> ExtHeader:
    """Hop-by-hop options (default: Router Alert, MLD), padded to a multiple of 8 bytes."""
    opts = _tlv_options(options)
    return ExtHeader(PROTO_HOPOPTS, bytes([(2 + len(opts)) // 8 - 1]) + opts)


def dest_options(options: bytes = b"") -> ExtHeader:
    """Destination options (default: just padding)."""
    opts = _tlv_options(options)
    return ExtHeader(PROTO_DSTOPTS, bytes([(2 + len(opts)) // 8 - 1]) + opts)


def fragment_header(offset: int = 0, more: bool = False, ident: int = 0) -> ExtHeader:
    """Fragment header; ``offset`` in bytes (a multiple of 8)."""
    return ExtHeader(PROTO_FRAGMENT,
                     struct.pack("!BHI", 0, (offset // 8) << 3 | (1 if more else 0), ident))


def ipv6_packet(src: str, dst: str, next_header: int, payload: bytes, hlim: int = 64,
                ext: Sequence[ExtHeader] = (), tclass: int = 0, flow: int = 0,
                payload_len: int | None = None) -> bytes:
    """An IPv6 packet; ``ext`` are extension headers in wire order before ``payload``."""
    chain = b""
    for i, h in enumerate(ext):
        nxt = ext[i + 1].proto if i + 1 < len(ext) else next_header
        chain += h.encode(nxt)
    first = ext[0].proto if ext else next_header
    plen = len(chain) + len(payload) if payload_len is None else payload_len
    hdr = struct.pack("!IHBB16s16s", 6 << 28 | tclass << 20 | flow, plen & 0xFFFF, first, hlim,
                      _addr(src), _addr(dst))
    return hdr + chain + payload


def ip_packet(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64, ip_id: int = 0,
              df: bool = False, ext: Sequence[ExtHeader] = (), **kw) -> bytes:
    """IPv4 or IPv6 by the address family (``ttl`` is the hop limit for IPv6)."""
    if _is6(src):
        return ipv6_packet(src, dst, proto, payload, hlim=ttl, ext=ext, **kw)
    if ext:
        raise ValueError("extension headers are IPv6 only")
    return ipv4_packet(src, dst, proto, payload, ttl=ttl, ip_id=ip_id, df=df, **kw)


def fragment_ipv4(packet: bytes, size: int = 64) -> list[bytes]:
    """Split an IPv4 datagram into fragments carrying ``size`` bytes (rounded down to 8n) each."""
    size = max(8, size - size % 8)
    hl = (packet[0] & 0x0F) * 4
    hdr, data = packet[:hl], packet[hl:]
    ttl, proto = hdr[8], hdr[9]
    ip_id = struct.unpack("!H", hdr[4:6])[0]
    src, dst = str(ipaddress.IPv4Address(hdr[12:16])), str(ipaddress.IPv4Address(hdr[16:20]))
    out = []
    for off in range(0, len(data), size):
        chunk = data[off:off + size]
        out.append(ipv4_packet(src, dst, proto, chunk, ttl=ttl, ip_id=ip_id, tos=hdr[1],
                               mf=off + size < len(data), frag_offset=off,
                               options=hdr[20:] if off == 0 else b""))
    return out


def fragment_ipv6(packet: bytes, size: int = 64, ident: int = 0x1234) -> list[bytes]:
    """Split an IPv6 packet into fragments; a leading hop-by-hop header stays unfragmentable."""
    size = max(8, size - size % 8)
    base = packet[:40]
    nh, rest = base[6], packet[40:]
    unfrag = b""
    if nh == PROTO_HOPOPTS:  # the unfragmentable part: keep it in front of the fragment header
        hl = (rest[1] + 1) * 8
        unfrag, nh, rest = bytearray(rest[:hl]), rest[0], rest[hl:]
        unfrag[0] = PROTO_FRAGMENT
        unfrag = bytes(unfrag)
    out = []
    for off in range(0, len(rest), size):
        chunk = rest[off:off + size]
        fh = fragment_header(off, off + size < len(rest), ident).encode(nh)
        body = unfrag + fh + chunk
        first = PROTO_HOPOPTS if unfrag else PROTO_FRAGMENT
        out.append(base[:4] + struct.pack("!HB", len(body), first) + base[7:40] + body)
    return out


# ---------------------------------------------------------------------------------------------
# whole packets (IP version follows the addresses)


def echo_request(src: str, dst: str, ident: int = 1, seq: int = 1, payload: bytes = b"",
                 ttl: int = 64, ip_id: int = 0, df: bool = False, code: int = 0,
                 ext: Sequence[ExtHeader] = (), checksum: int | None = None, **ipkw) -> bytes:
    msg = echo_message(src, dst, ident, seq, payload, reply=False, code=code, checksum=checksum)
    proto = PROTO_ICMPV6 if _is6(src) else PROTO_ICMP
    return ip_packet(src, dst, proto, msg, ttl=ttl, ip_id=ip_id, df=df, ext=ext, **ipkw)


def echo_reply(src: str, dst: str, ident: int = 1, seq: int = 1, payload: bytes = b"",
               ttl: int = 64, ip_id: int = 0, df: bool = False, code: int = 0,
               ext: Sequence[ExtHeader] = (), checksum: int | None = None, **ipkw) -> bytes:
    msg = echo_message(src, dst, ident, seq, payload, reply=True, code=code, checksum=checksum)
    proto = PROTO_ICMPV6 if _is6(src) else PROTO_ICMP
    return ip_packet(src, dst, proto, msg, ttl=ttl, ip_id=ip_id, df=df, ext=ext, **ipkw)


def reply_to(request: bytes, ttl: int = 64, ip_id: int = 0, payload: bytes | None = None) -> bytes:
    """The echo reply a well-behaved host sends for an (unfragmented, header-only) ``request``."""
    if request[0] >> 4 == 6:
        src = str(ipaddress.IPv6Address(request[8:24]))
        dst = str(ipaddress.IPv6Address(request[24:40]))
        nh, off = request[6], 40
        while nh in (PROTO_HOPOPTS, PROTO_DSTOPTS):  # the reply carries no extension headers
            nh, off = request[off], off + (request[off + 1] + 1) * 8
        icmp = request[off:]
    else:
        hl = (request[0] & 0xF) * 4
        src = str(ipaddress.IPv4Address(request[12:16]))
        dst = str(ipaddress.IPv4Address(request[16:20]))
        icmp = request[hl:]
    ident, seq = struct.unpack("!HH", icmp[4:8])
    data = icmp[8:] if payload is None else payload
    return echo_reply(dst, src, ident, seq, data, ttl=ttl, ip_id=ip_id)


def icmp_error(src: str, dst: str, type_: int, code: int, original: bytes, ttl: int = 64,
               ip_id: int = 0, quote: int | None = None, rest: bytes = b"\0\0\0\0") -> bytes:
    """An ICMP/ICMPv6 error from ``src`` (a router or the target) quoting ``original``.

    ``quote`` bytes of the original are included: by default the IPv4 header plus 8 bytes
    (RFC 792) or as much as fits in the IPv6 minimum MTU (RFC 4443).
    """
    if _is6(src):
        q = original[:1280 - 48] if quote is None else original[:quote]
        msg = icmpv6_message(src, dst, type_, code, rest, q)
        return ipv6_packet(src, dst, PROTO_ICMPV6, msg, hlim=ttl)
    q = original[:(original[0] & 0xF) * 4 + 8] if quote is None else original[:quote]
    return ipv4_packet(src, dst, PROTO_ICMP, icmp_message(type_, code, rest, q), ttl=ttl,
                       ip_id=ip_id)


def time_exceeded(router: str, dst: str, original: bytes, ttl: int = 64, **kw) -> bytes:
    """TTL exceeded in transit (ICMP 11/0, ICMPv6 3/0), as traceroute gets from each hop."""
    return icmp_error(router, dst, 3 if _is6(router) else 11, 0, original, ttl=ttl, **kw)


def dest_unreachable(src: str, dst: str, original: bytes, code: int | None = None,
                     ttl: int = 64, **kw) -> bytes:
    """Destination unreachable (default: port unreachable, ICMP 3/3, ICMPv6 1/4)."""
    if _is6(src):
        return icmp_error(src, dst, 1, 4 if code is None else code, original, ttl=ttl, **kw)
    return icmp_error(src, dst, 3, 3 if code is None else code, original, ttl=ttl, **kw)


def packet_too_big(src: str, dst: str, original: bytes, mtu: int = 1280, ttl: int = 64) -> bytes:
    """ICMPv6 2/0 or ICMPv4 3/4 (fragmentation needed) with the next-hop MTU."""
    if _is6(src):
        return icmp_error(src, dst, 2, 0, original, ttl=ttl, rest=struct.pack("!I", mtu))
    return icmp_error(src, dst, 3, 4, original, ttl=ttl, rest=struct.pack("!HH", 0, mtu))


def icmp_other(src: str, dst: str, type_: int, code: int = 0, rest: bytes = b"\0\0\0\0",
               data: bytes = b"", ttl: int = 64, ip_id: int = 0) -> bytes:
    """Any other ICMP/ICMPv6 message (timestamp 13, router advertisement 134, ...)."""
    if _is6(src):
        msg = icmpv6_message(src, dst, type_, code, rest, data)
        return ipv6_packet(src, dst, PROTO_ICMPV6, msg, hlim=ttl)
    return ipv4_packet(src, dst, PROTO_ICMP, icmp_message(type_, code, rest, data), ttl=ttl,
                       ip_id=ip_id)


# MSS 1460, NOP, window scale 8, NOP, NOP, SACK permitted (Windows 10)
WINDOWS_SYN_OPTIONS = bytes.fromhex("020405b4" "01" "030308" "0101" "0402")
LINUX_SYN_OPTIONS = bytes.fromhex("020405b40402080a") + b"\0" * 8 + bytes.fromhex("01030307")


def tcp_packet(src: str, dst: str, sport: int, dport: int, flags: int = TCP_ACK, seq: int = 0,
               ack: int = 0, payload: bytes = b"", ttl: int = 64, ip_id: int = 0,
               df: bool = True, window: int = 64240, options: bytes = b"") -> bytes:
    seg = tcp_segment(src, dst, sport, dport, flags, seq, ack, payload, window, options)
    return ip_packet(src, dst, PROTO_TCP, seg, ttl=ttl, ip_id=ip_id, df=df)


def tcp_syn(src: str, dst: str, sport: int, dport: int = 443, seq: int = 1000, ttl: int = 64,
            ip_id: int = 0, options: bytes = WINDOWS_SYN_OPTIONS, window: int = 64240) -> bytes:
    return tcp_packet(src, dst, sport, dport, TCP_SYN, seq, 0, b"", ttl, ip_id, True, window,
                      options)


def tcp_synack(src: str, dst: str, sport: int, dport: int, seq: int = 5000, ack: int = 1001,
               ttl: int = 64, ip_id: int = 0, options: bytes = bytes.fromhex("020405b4"),
               window: int = 65535) -> bytes:
    return tcp_packet(src, dst, sport, dport, TCP_SYN | TCP_ACK, seq, ack, b"", ttl, ip_id, True,
                      window, options)


def udp_packet(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", ttl: int = 64,
               ip_id: int = 0, df: bool = False) -> bytes:
    return ip_packet(src, dst, PROTO_UDP, udp_datagram(src, dst, sport, dport, payload), ttl=ttl,
                     ip_id=ip_id, df=df)


def dns_query(name: str, txid: int = 0x1234, qtype: int = 1) -> bytes:
    """A DNS query message (to put in :func:`udp_packet`)."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def dns_answer(name: str, address: str, txid: int = 0x1234, ttl: int = 300) -> bytes:
    q = dns_query(name, txid)[12:]
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, ttl, 4) + _addr(address)
    return struct.pack("!HHHHHH", txid, 0x8180, 1, 1, 0, 0) + q + rr


# ---------------------------------------------------------------------------------------------
# tunnels (each returns the OUTER IP packet; wrap it in a link layer)


def _outer(src: str, dst: str, proto: int, payload: bytes, ttl: int, ip_id: int) -> bytes:
    if _is6(src):
        return ipv6_packet(src, dst, proto, payload, hlim=ttl)
    return ipv4_packet(src, dst, proto, payload, ttl=ttl, ip_id=ip_id, df=True)


def vxlan(inner_frame: bytes, outer_src: str = "192.0.2.10", outer_dst: str = "192.0.2.20",
          vni: int = 5001, sport: int = 49152, ttl: int = 64, ip_id: int = 0) -> bytes:
    """VXLAN (RFC 7348): outer IP / UDP 4789 / 8-byte header (I flag, VNI) / inner Ethernet."""
    hdr = struct.pack("!B3sI", 0x08, b"\0\0\0", vni << 8)
    udp = udp_datagram(outer_src, outer_dst, sport, VXLAN_PORT, hdr + inner_frame,
                       checksum=_is6(outer_src))
    return _outer(outer_src, outer_dst, PROTO_UDP, udp, ttl, ip_id)


def gre_header(proto: int, key: int | None = None, seq: int | None = None,
               checksum: bool = False) -> bytes:
    flags = (0x8000 if checksum else 0) | (0x2000 if key is not None else 0) | \
        (0x1000 if seq is not None else 0)
    hdr = struct.pack("!HH", flags, proto)
    if checksum:
        hdr += b"\0\0\0\0"  # filled by gre()
    if key is not None:
        hdr += struct.pack("!I", key)
    if seq is not None:
        hdr += struct.pack("!I", seq)
    return hdr


def gre(inner: bytes, outer_src: str = "192.0.2.10", outer_dst: str = "192.0.2.20",
        proto: int | None = None, key: int | None = None, seq: int | None = None,
        checksum: bool = False, ttl: int = 64, ip_id: int = 0) -> bytes:
    """GRE (RFC 2784/2890) carrying ``inner``; ``proto`` defaults to the inner IP version."""
    if proto is None:
        proto = ETH_IPV6 if inner[0] >> 4 == 6 else ETH_IPV4
    body = gre_header(proto, key, seq, checksum) + inner
    if checksum:
        ck = in_cksum(body)
        body = body[:4] + struct.pack("!H", ck) + body[6:]
    return _outer(outer_src, outer_dst, PROTO_GRE, body, ttl, ip_id)


def gre_teb(inner_frame: bytes, outer_src: str = "192.0.2.10", outer_dst: str = "192.0.2.20",
            key: int | None = None, ttl: int = 64, ip_id: int = 0) -> bytes:
    """GRE transparent Ethernet bridging (proto 0x6558) carrying a whole Ethernet frame."""
    return gre(inner_frame, outer_src, outer_dst, ETH_TEB, key=key, ttl=ttl, ip_id=ip_id)


def erspan2(inner_frame: bytes, outer_src: str = "192.0.2.10", outer_dst: str = "192.0.2.20",
            session: int = 1, seq: int = 1, vlan: int = 0, cos: int = 0, index: int = 0,
            ttl: int = 64, ip_id: int = 0) -> bytes:
    """ERSPAN type II: GRE (S flag, proto 0x88BE, sequence) + 8-byte header + Ethernet frame."""
    en = 3 if vlan else 0  # 3: VLAN tags preserved in the mirrored frame
    w0 = 1 << 28 | (vlan & 0xFFF) << 16 | (cos & 7) << 13 | en << 11 | (session & 0x3FF)
    w1 = index & 0xFFFFF
    body = gre_header(ETH_ERSPAN2, seq=seq) + struct.pack("!II", w0, w1) + inner_frame
    return _outer(outer_src, outer_dst, PROTO_GRE, body, ttl, ip_id)


def erspan3(inner_frame: bytes, outer_src: str = "192.0.2.10", outer_dst: str = "192.0.2.20",
            session: int = 1, seq: int = 1, vlan: int = 0, timestamp: int = 0, sgt: int = 0,
            hw_id: int = 0, platform: int | None = None, ttl: int = 64, ip_id: int = 0) -> bytes:
    """ERSPAN type III: GRE (proto 0x22EB) + 12-byte header [+ 8-byte platform subheader].

    ``platform`` (a 64-bit value: platform id in the top 6 bits) sets the O flag and appends the
    platform-specific subheader.
    """
    w0 = 2 << 28 | (vlan & 0xFFF) << 16 | (session & 0x3FF)
    o = 1 if platform is not None else 0
    w2 = (sgt & 0xFFFF) << 16 | (hw_id & 0x3F) << 4 | o  # P=0, FT=0 (Ethernet), D=0, Gra=0
    hdr = struct.pack("!III", w0, timestamp & 0xFFFFFFFF, w2)
    if platform is not None:
        hdr += struct.pack("!Q", platform)
    body = gre_header(ETH_ERSPAN3, seq=seq) + hdr + inner_frame
    return _outer(outer_src, outer_dst, PROTO_GRE, body, ttl, ip_id)


def ip_in_ip(inner: bytes, outer_src: str = "192.0.2.10", outer_dst: str = "192.0.2.20",
             ttl: int = 64, ip_id: int = 0) -> bytes:
    """IP-in-IP by families: IPv4/IPv4 (proto 4), IPv6/IPv4 (41), IPv4/IPv6, IPv6/IPv6."""
    proto = PROTO_IPV6 if inner[0] >> 4 == 6 else PROTO_IPIP
    return _outer(outer_src, outer_dst, proto, inner, ttl, ip_id)


# ---------------------------------------------------------------------------------------------
# link layers


def _ethertype(packet: bytes) -> int:
    return ETH_IPV6 if packet and packet[0] >> 4 == 6 else ETH_IPV4


def ethernet(packet: bytes, src: str | bytes = ROUTER_MAC, dst: str | bytes = HOST_MAC,
             vlans: Sequence[int] = (), stag: bool = False, ethertype: int | None = None,
             pad: bool = True) -> bytes:
    """Ethernet II; ``vlans`` outermost first (802.1Q, or the outer one 802.1ad when ``stag``).

    ``pad`` zero-fills to the 60-byte minimum (the capture never includes the 4-byte FCS).
    """
    tags = b""
    for i, vid in enumerate(vlans):
        tpid = ETH_8021AD if stag and i == 0 and len(vlans) > 1 else ETH_8021Q
        tags += struct.pack("!HH", tpid, vid & 0xFFF)
    et = _ethertype(packet) if ethertype is None else ethertype
    frame = _mac(dst) + _mac(src) + tags + struct.pack("!H", et) + packet
    if pad and len(frame) < 60:
        frame += b"\0" * (60 - len(frame))
    return frame


def linux_sll(packet: bytes, pkttype: int = 0, addr: str | bytes = ROUTER_MAC,
              protocol: int | None = None, arphrd: int = 1) -> bytes:
    """Linux cooked capture v1 (DLT 113): 16-byte header."""
    a = _mac(addr)
    proto = _ethertype(packet) if protocol is None else protocol
    return struct.pack("!HHH8sH", pkttype, arphrd, len(a), a.ljust(8, b"\0"), proto) + packet


def linux_sll2(packet: bytes, pkttype: int = 0, addr: str | bytes = ROUTER_MAC,
               protocol: int | None = None, ifindex: int = 2, arphrd: int = 1) -> bytes:
    """Linux cooked capture v2 (DLT 276): 20-byte header."""
    a = _mac(addr)
    proto = _ethertype(packet) if protocol is None else protocol
    return struct.pack("!HHIHBB8s", proto, 0, ifindex, arphrd, pkttype, len(a),
                       a.ljust(8, b"\0")) + packet


def raw_ip(packet: bytes) -> bytes:
    """LINKTYPE_RAW (101): the IP packet itself."""
    return packet


def loopback(packet: bytes, family: int | None = None, big_endian: bool = False) -> bytes:
    """BSD loopback / DLT_NULL: address family as 4 bytes in the capturing host's byte order."""
    fam = family if family is not None else (AF_INET6_FREEBSD if _ethertype(packet) == ETH_IPV6
                                              else AF_INET)
    return struct.pack(">I" if big_endian else "<I", fam) + packet


def link(name: str, packet: bytes, **kw) -> tuple[int, bytes]:
    """``(linktype, frame)`` for a link layer named like the record's ``link`` field."""
    builders = {"ethernet": ethernet, "linux_sll": linux_sll, "linux_sll2": linux_sll2,
                "raw": raw_ip, "loopback": loopback}
    return LINKTYPES[name], builders[name](packet, **kw)


# ---------------------------------------------------------------------------------------------
# payloads of known senders (names follow oddping/payload_classes.py)


def _count_up(start: int, n: int) -> bytes:
    return bytes((start + i) & 0xFF for i in range(n))


def payload_windows(size: int = 32) -> bytes:
    """Windows ping.exe: "abcdefghijklmnopqrstuvw" repeated (32 bytes by default, ping -l N)."""
    pat = b"abcdefghijklmnopqrstuvw"
    return (pat * (size // len(pat) + 1))[:size]


def payload_linux(ts: float = 1678784400.0, size: int = 56, tv_bytes: int = 16) -> bytes:
    """Linux iputils ping: struct timeval (16 bytes, 8 on 32-bit) then bytes counting up."""
    sec, usec = int(ts), int(round((ts - int(ts)) * 1e6)) % 1_000_000
    tv = struct.pack("<qq", sec, usec) if tv_bytes == 16 else struct.pack("<ii", sec, usec)
    return tv + _count_up(tv_bytes, size - tv_bytes)


def payload_bsd(ts: float = 1678784400.0, size: int = 56) -> bytes:
    """FreeBSD / macOS ping: 8-byte timeval (network order) then bytes counting up from 0x08."""
    sec, usec = int(ts), int(round((ts - int(ts)) * 1e6)) % 1_000_000
    return struct.pack("!II", sec & 0xFFFFFFFF, usec) + _count_up(8, size - 8)


def payload_busybox(usec: int = 123456789, size: int = 56, fill: int = 0) -> bytes:
    """busybox ping: 4-byte microsecond counter then the fill byte."""
    return struct.pack("<I", usec & 0xFFFFFFFF) + bytes([fill]) * (size - 4)


def payload_fping(size: int = 56) -> bytes:
    """fping (and busybox "simple" ping): zeros."""
    return b"\0" * size


def payload_cisco(size: int = 72) -> bytes:
    """Cisco IOS ping: 0xABCD repeated (72 data bytes in the default 100-byte datagram)."""
    return (b"\xab\xcd" * (size // 2 + 1))[:size]


def payload_single_question() -> bytes:
    """Windows domain controller to domain controller: one "?"."""
    return b"?"


def payload_traceroute_linux() -> bytes:
    """Linux traceroute -I (2.1.x): 32 bytes counting 0x48..0x67 ("HIJ...efg")."""
    return _count_up(0x48, 32)


def payload_mtr() -> bytes:
    """mtr: 36 zero bytes (IP length 64)."""
    return b"\0" * 36


def payload_nmap() -> bytes:
    """nmap -PE / -sn host discovery: no data (ident random, seq 0)."""
    return b""


def payload_nmap_os_detection(first: bool = True) -> bytes:
    """nmap OS detection IE probes: 120 zeros (code 9, seq 295) / 150 zeros (seq 296)."""
    return b"\0" * (120 if first else 150)


def payload_hping3(size: int = 0) -> bytes:
    """hping3 --icmp: empty, or ``-d N`` zero bytes."""
    return b"\0" * size


def payload_nemesis() -> bytes:
    """Nemesis: 20 zero bytes (id 0, seq 0)."""
    return b"\0" * 20


def payload_icmpenum() -> bytes:
    """icmpenum: empty (id 666)."""
    return b""


def payload_superscan() -> bytes:
    """SuperScan: 8 zero bytes."""
    return b"\0" * 8


def payload_broadscan_smurf() -> bytes:
    """Broadscan smurf: 4 bytes (id 0, seq 0)."""
    return b"\0" * 4


def payload_empty() -> bytes:
    return b""


def payload_windows_snort_0123() -> bytes:
    """The Snort "Microsoft Windows" signature: "0123456789abcdefghijklmnop" prefix."""
    return b"0123456789abcdefghijklmnopqrstuv"


def payload_cyberkit() -> bytes:
    """CyberKit: 0xAA x16 (and on)."""
    return b"\xaa" * 32


def payload_sniffer_pro() -> bytes:
    """Network Associates Sniffer Pro: "Cinco Network, Inc."."""
    return b"Cinco Network, Inc."


def payload_l3retriever() -> bytes:
    return b"ABCDEFGHIJKLMNOPQRSTUVWABCDEFGHI"


def payload_delphi_piette() -> bytes:
    return b"Pinging from Delphi code written by F. Piette"


def payload_iss_pinger() -> bytes:
    return b"ISSPNGRQ" + b"\0" * 24


def payload_whatsup() -> bytes:
    return b"WhatsUp - A Network Monitoring Tool"


def payload_zeros(size: int = 2) -> bytes:
    """All zeros; 2 bytes is Office 365 "Footprints" telemetry."""
    return b"\0" * size


PTUNNEL_MAGIC = 0xD5200880
PTUNNEL_NG_MAGIC = 0xDEADC0DE


def payload_ptunnel(data: bytes = b"", dst_ip: str = "192.0.2.80", dst_port: int = 22,
                    state: int = 0x40000001, ack: int = 0, seq: int = 0, ident: int = 0x4a1b,
                    magic: int = PTUNNEL_MAGIC) -> bytes:
    """ptunnel: 28-byte header (magic, dst ip, dst port, state, ack, data length, seq, id)."""
    return struct.pack("!I4sIIIIHH", magic, _addr(dst_ip), dst_port, state, ack, len(data),
                       seq, ident) + data


def payload_ptunnel_ng(data: bytes = b"", **kw) -> bytes:
    """ptunnel-ng: the ptunnel layout with magic DE AD C0 DE."""
    return payload_ptunnel(data, magic=PTUNNEL_NG_MAGIC, **kw)


def payload_icmptunnel(inner: bytes | None = None) -> bytes:
    """icmptunnel: the echo data is a raw IPv4 packet."""
    if inner is None:
        inner = tcp_packet("10.0.1.2", "10.0.1.1", 51000, 22, TCP_ACK | TCP_PSH, 1, 1,
                           b"SSH-2.0-OpenSSH_9.2\r\n", ttl=64, ip_id=0x1c46)
    return inner


def payload_hans(client: bool = True, type_: int = 0x02, data: bytes = b"") -> bytes:
    """hans: "hanc" (client) / "hans" (server), a type byte, then data."""
    return (b"hanc" if client else b"hans") + bytes([type_]) + data


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 31)


def payload_pingtunnel(conn_id: str = "5f0d1c2b3a4e5d6c7b8a9f0e1d2c3b4a", msgtype: int = 0,
                       target: str = "192.0.2.80:22", data: bytes = b"", key: int = 0) -> bytes:
    """pingtunnel's protobuf MyMsg: id (32 hex chars), type, target, data, magic 0xDEAD, key."""
    cid = conn_id.encode()
    msg = b"\x0a" + _varint(len(cid)) + cid
    if msgtype:
        msg += b"\x10" + _varint(msgtype)
    msg += b"\x1a" + _varint(len(target)) + target.encode()
    if data:
        msg += b"\x22" + _varint(len(data)) + data
    msg += b"\x30" + _varint(_zigzag(0xDEAD))  # 30 DA FA 06
    if key:
        msg += b"\x38" + _varint(_zigzag(key))
    return msg


def payload_icmpsh(text: str = "Microsoft Windows [Version 10.0.19045.3693]\r\n") -> bytes:
    """icmpsh-style command channel: printable ASCII."""
    return text.encode()


def payload_large(size: int = 1400) -> bytes:
    """A "Large ICMP Packet" (over 800 bytes of data)."""
    return _count_up(0, size)


# ---------------------------------------------------------------------------------------------
# capture files


@dataclass(frozen=True)
class Frame:
    """One captured frame: ``data`` are the captured bytes; ``wire_len`` the length on the wire."""

    data: bytes
    ts_ns: int
    linktype: int = LINKTYPE_ETHERNET
    wire_len: int | None = None
    iface: int | None = None  # pcapng interface index; None: one interface per link type

    @property
    def orig_len(self) -> int:
        return len(self.data) if self.wire_len is None else self.wire_len


def truncated(frame: Frame, caplen: int) -> Frame:
    """The frame as a capture with snaplen ``caplen`` records it."""
    return replace(frame, data=frame.data[:caplen], wire_len=frame.orig_len)


@dataclass(frozen=True)
class Interface:
    """A pcapng interface: link type, timestamp resolution and snaplen.

    ``tsresol`` is the if_tsresol byte: n for 10**-n seconds, 0x80 | n for 2**-n seconds.
    """

    linktype: int
    tsresol: int = 6
    snaplen: int = 262144
    name: str | None = None


PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D


def pcap_header(linktype: int, nano: bool = False, big_endian: bool = False,
                snaplen: int = 262144) -> bytes:
    e = ">" if big_endian else "<"
    return struct.pack(e + "IHHiIII", PCAP_MAGIC_NS if nano else PCAP_MAGIC_US, 2, 4, 0, 0,
                       snaplen, linktype)


def pcap_record(frame: Frame, nano: bool = False, big_endian: bool = False,
                caplen: int | None = None) -> bytes:
    """A pcap record header and the frame's data (``caplen`` may lie, for damaged files)."""
    e = ">" if big_endian else "<"
    sec, frac = divmod(frame.ts_ns, 1_000_000_000)
    if not nano:
        frac //= 1000
    incl = len(frame.data) if caplen is None else caplen
    return struct.pack(e + "IIII", sec, frac, incl, frame.orig_len) + frame.data


def pcap_bytes(frames: Iterable[Frame], linktype: int | None = None, nano: bool = False,
               big_endian: bool = False, snaplen: int = 262144) -> bytes:
    """A classic pcap file (µs magic a1b2c3d4 or ns magic a1b23c4d, either byte order)."""
    frames = list(frames)
    if linktype is None:
        kinds = {f.linktype for f in frames} or {LINKTYPE_ETHERNET}
        if len(kinds) > 1:
            raise ValueError(f"pcap has one link type per file, frames have {sorted(kinds)}")
        linktype = kinds.pop()
    out = [pcap_header(linktype, nano, big_endian, snaplen)]
    out += [pcap_record(f, nano, big_endian) for f in frames]
    return b"".join(out)


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _option(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + _pad4(value)


def _block(e: str, btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)


def pcapng_bytes(frames: Iterable[Frame], interfaces: Sequence[Interface] | None = None,
                 big_endian: bool = False, tsresol: dict[int, int] | None = None) -> bytes:
    """A pcapng file: one section, Interface Description Blocks, Enhanced Packet Blocks.

    Without ``interfaces`` there is one interface per link type, in order of first appearance,
    with the resolution from ``tsresol`` (link type -> decimal exponent, default 6).  With them,
    each frame names its interface by index (``Frame.iface``).
    """
    e = ">" if big_endian else "<"
    frames = list(frames)
    if interfaces is None:
        order: list[int] = []
        for f in frames:
            if f.linktype not in order:
                order.append(f.linktype)
        interfaces = [Interface(lt, (tsresol or {}).get(lt, 6)) for lt in order]
        index = {lt: i for i, lt in enumerate(order)}
        frames = [replace(f, iface=index[f.linktype]) for f in frames]
    shb = struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    shb += _option(e, 4, b"oddping samples/craft.py") + _option(e, 0, b"")
    out = [_block(e, 0x0A0D0D0A, shb)]
    for i, itf in enumerate(interfaces):
        opts = _option(e, 2, (itf.name or f"if{i}").encode())
        opts += _option(e, 9, bytes([itf.tsresol]))
        opts += _option(e, 0, b"")
        out.append(_block(e, 1, struct.pack(e + "HHI", itf.linktype, 0, itf.snaplen) + opts))
    for f in frames:
        itf = interfaces[f.iface or 0]
        if itf.tsresol & 0x80:  # 2**-n seconds
            ts = f.ts_ns * (1 << (itf.tsresol & 0x7F)) // 1_000_000_000
        elif itf.tsresol <= 9:
            ts = f.ts_ns // 10 ** (9 - itf.tsresol)
        else:
            ts = f.ts_ns * 10 ** (itf.tsresol - 9)
        body = struct.pack(e + "IIIII", f.iface or 0, ts >> 32, ts & 0xFFFFFFFF, len(f.data),
                           f.orig_len) + _pad4(f.data)
        out.append(_block(e, 6, body))
    return b"".join(out)


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (no name, mtime 0)."""
    return _gzip.compress(data, compresslevel=9, mtime=0)


def _write(path, data: bytes) -> None:
    p = str(path)
    if p.endswith(".gz"):
        data = gzip_bytes(data)
    with open(p, "wb") as fh:
        fh.write(data)


def write_pcap(path, frames: Iterable[Frame], linktype: int | None = None, nano: bool = False,
               big_endian: bool = False, snaplen: int = 262144) -> None:
    """Write a classic pcap (gzip-compressed when ``path`` ends in .gz)."""
    _write(path, pcap_bytes(frames, linktype, nano, big_endian, snaplen))


def write_pcapng(path, frames: Iterable[Frame], interfaces: Sequence[Interface] | None = None,
                 big_endian: bool = False, tsresol: dict[int, int] | None = None) -> None:
    """Write a pcapng (gzip-compressed when ``path`` ends in .gz)."""
    _write(path, pcapng_bytes(frames, interfaces, big_endian, tsresol))


__all__ = [n for n in dir() if not n.startswith("_") and n not in {
    "annotations", "struct", "ipaddress", "Iterable", "Sequence", "dataclass",
    "replace", "in_cksum", "in_cksum_add", "in_cksum_done"}]
