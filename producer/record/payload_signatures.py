"""What ordinary and odd echo data looks like, as data: one row per sender or tool, with its source.

The classifier walks SIGNATURES in order and the first row that matches names the payload.
Rows for ordinary senders come first because they are most of the traffic.  Offsets count from
the start of the echo data (after the 8-byte ICMP header), as in the Snort/ET rules.
Ids and sequence numbers only matter for the few tools that fix them (nemesis, icmpenum ...).

Every row checks what its sender's data allows to be checked.  Most fills are fixed bytes and
are compared whole; iputils and BSD ping begin with their send time, so those rows also check
that the first bytes are a time within CLOCK_SKEW_S of the capture time (with a sub-second part
in range).  Data that has a sender's counting bytes after something that is not its send time is
not that sender: the walk goes on, and unless a later row names it (a plain counting fill), it
is ``ping_imitation`` (random bytes, or a tunnel's data, dressed as Linux ping), a class of its
own that the rules treat as unattributed data.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from oddping import payload_classes

Matcher = Callable[[bytes], bool]
#: (data, capture time in ns or None) -> whether the data's leading send time fits the capture
SentTimeCheck = Callable[[bytes, "int | None"], bool]

#: How far a ping's own send time may lie from the capture time.  An NTP-synced host is within
#: a second; 5 minutes is the skew Kerberos tolerates in a Windows domain.  Random bytes land in
#: this range of 64-bit seconds with a probability of about 10^-16.
CLOCK_SKEW_S = 300


def exact(expected: bytes) -> Matcher:
    return expected.__eq__


def prefix(expected: bytes) -> Matcher:
    return lambda data: data.startswith(expected)


def repeating(unit: bytes) -> Matcher:
    """data is `unit` repeated and cut to length (Windows `ping -l N`, Cisco's 0xABCD fill)."""
    cache = unit * (65536 // len(unit) + 1)
    return lambda data: bool(data) and cache.startswith(data)


def counting_after(skip: int, start: int) -> Matcher:
    """`skip` bytes of timestamp, then bytes counting up from `start` (iputils / BSD ping)."""
    ramp = bytes((start + i) & 0xFF for i in range(65536))
    return lambda data: len(data) > skip and ramp.startswith(data[skip:])


_NS = 1_000_000_000
_TIMEVAL64_LE, _TIMEVAL64_BE = struct.Struct("<qq"), struct.Struct(">qq")
_TIMEVAL32 = struct.Struct("<ii")
_TV32_NET = struct.Struct("!II")


def timeval_16(data: bytes, ts_ns: int | None) -> bool:
    """iputils on 64-bit Linux: a struct timeval (64-bit seconds, microseconds) in host byte
    order, little-endian nearly everywhere, big-endian on s390x and ppc64.  (Written out: it
    runs for every Linux ping.)"""
    sec, usec = _TIMEVAL64_LE.unpack_from(data)
    if 0 <= usec < 1_000_000 and (ts_ns is None or abs(sec - ts_ns // _NS) <= CLOCK_SKEW_S):
        return True
    sec, usec = _TIMEVAL64_BE.unpack_from(data)
    return 0 <= usec < 1_000_000 and (ts_ns is None or abs(sec - ts_ns // _NS) <= CLOCK_SKEW_S)


def timeval_8(data: bytes, ts_ns: int | None) -> bool:
    """FreeBSD/macOS ping: struct tv32 in network order (32-bit seconds, then microseconds on
    macOS and older FreeBSD, nanoseconds on FreeBSD 12 and later); iputils on 32-bit Linux: a
    32-bit struct timeval in host (little-endian) order."""
    sec, frac = _TV32_NET.unpack_from(data)
    if frac < _NS and (ts_ns is None or abs(sec - (ts_ns // _NS) % (1 << 32)) <= CLOCK_SKEW_S):
        return True
    sec, usec = _TIMEVAL32.unpack_from(data)
    return 0 <= usec < 1_000_000 and (ts_ns is None or abs(sec - ts_ns // _NS) <= CLOCK_SKEW_S)


_RAMP_FROM_ZERO = bytes(i & 0xFF for i in range(65536))


def counting_from_zero(data: bytes) -> bool:
    return len(data) >= 2 and _RAMP_FROM_ZERO.startswith(data)


def zeros(*lengths: int) -> Matcher:
    wanted = frozenset(lengths)
    return lambda data: len(data) in wanted and not any(data)


def busybox(data: bytes) -> bool:
    # 4-byte microsecond counter, then the default 0x00 fill
    return len(data) == 56 and any(data[:4]) and not any(data[4:])


def all_zero(data: bytes) -> bool:
    return not any(data)


def pingtunnel(data: bytes) -> bool:
    # protobuf field 1 (connection id) = 32 hex characters: 0A 20 <32 x [0-9a-f]>
    return data[:2] == b"\x0a\x20" and len(data) >= 34 and all(c in HEX for c in data[2:34])


HEX = frozenset(b"0123456789abcdefABCDEF")


def hans(data: bytes) -> bool:
    return len(data) >= 5 and data[:4] in (b"hanc", b"hans")


def raw_ipv4_packet(data: bytes) -> bool:
    """icmptunnel puts a whole IPv4 packet in the echo data: version 4, IHL 5, sane length."""
    return (
        len(data) >= 20
        and data[0] == 0x45
        and int.from_bytes(data[2:4], "big") == len(data)
        and data[9] in (1, 6, 17)
    )


PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def printable_text(data: bytes) -> bool:
    return len(data) >= 8 and all(c in PRINTABLE for c in data)


@dataclass(frozen=True, slots=True)
class Signature:
    payload_class: str
    matches: Matcher
    source: str
    icmp_id: int | None = None  # only this identifier matches
    icmp_seq: frozenset[int] | None = None  # only these sequence numbers match
    #: for data that begins with its send time: whether it does (else the data is an imitation)
    sent_time: SentTimeCheck | None = None


#: The class of data laid out like a timestamped sender's whose timestamp is not a send time.
IMITATION = "ping_imitation"


WINDOWS_ALPHABET = b"abcdefghijklmnopqrstuvw"

SIGNATURES: tuple[Signature, ...] = (
    # -- ordinary senders ---------------------------------------------------------------------
    Signature("windows", repeating(WINDOWS_ALPHABET),
              "Windows ping.exe: 32 bytes a..w a..i (ET/GPL ICMP_INFO PING Windows, sid 2100382)"),
    Signature("bsd", counting_after(8, 0x08),
              "FreeBSD/macOS sbin/ping: 8-byte timeval then 0x08.. (GPL PING BSDtype, sid 2100368);"
              " also iputils on 32-bit Linux.  Checked before linux_iputils: its ramp from 0x08"
              " continues through 0x10 onward, so the Linux row would match it too",
              sent_time=timeval_8),
    Signature("linux_iputils", counting_after(16, 0x10),
              "iputils ping.c: 16-byte timeval then 0x10.. (GPL ICMP_INFO PING *NIX, sid 2100366)",
              sent_time=timeval_16),
    Signature("fping", zeros(56), "fping 5.x: 56 zero bytes; busybox 'simple' build sends the same"),
    Signature("busybox", busybox, "busybox networking/ping.c: 4-byte counter, 0x00 fill"),
    Signature("cisco_ios", repeating(b"\xab\xcd"),
              "Cisco IOS ping: 0xABCD fill (GPL ICMP_INFO PING Cisco Type.x, sid 2100480)"),
    Signature("single_question", exact(b"?"), "Windows domain controller to DC echo: one byte '?'"),
    Signature("traceroute_linux", exact(bytes(range(0x48, 0x68))),
              "Linux traceroute -I 2.1.x: 32 bytes 0x48..0x67"),
    Signature("mtr", zeros(36), "mtr 0.95 report mode: 36 zero bytes"),
    # -- scanners and packet crafters -----------------------------------------------------------
    Signature("icmpenum", exact(b""), "GPL ICMP icmpenum v1.1.1 (sid 2100481): empty, id 666",
              icmp_id=666),
    Signature("empty", exact(b""), "nmap -PE/-sn and hping3 --icmp default: no data"
              " (GPL ICMP PING NMAP, sid 2100469)"),
    Signature("nemesis", zeros(20), "GPL ICMP PING Nemesis v1.1 (sid 2100467): 20 zeros, id 0 seq 0",
              icmp_id=0, icmp_seq=frozenset({0})),
    Signature("broadscan_smurf", lambda d: len(d) == 4,
              "GPL ICMP Broadscan Smurf Scanner (sid 2100478): 4 bytes, id 0 seq 0",
              icmp_id=0, icmp_seq=frozenset({0})),
    Signature("nmap_os_detection", zeros(120, 150),
              "nmap osscan2.cc: IE probes of 120/150 zero bytes, seq 295/296",
              icmp_seq=frozenset({295, 296})),
    Signature("superscan", zeros(8), "GPL ICMP superscan echo (sid 2100474): 8 zero bytes"),
    Signature("windows_snort_0123", prefix(b"0123456789abcdefghijklmnop"),
              "GPL ICMP_INFO PING Microsoft Windows (sid 2100376)"),
    Signature("l3retriever", prefix(b"ABCDEFGHIJKLMNOPQRSTUVWABCDEFGHI"),
              "GPL ICMP_INFO L3retriever Ping (sid 2100466)"),
    Signature("cyberkit", prefix(b"\xaa" * 16), "GPL ICMP_INFO PING CyberKit 2.2 Windows (sid 2100463)"),
    Signature("sniffer_pro", prefix(b"Cinco Network, Inc."),
              "GPL ICMP_INFO PING Sniffer Pro/NetXRay network scan (sid 2100484)"),
    Signature("delphi_piette", prefix(b"Pinging from Del"),
              "GPL ICMP_INFO PING Delphi-Piette Windows (sid 2100372)"),
    Signature("iss_pinger", prefix(b"ISSPNGRQ"), "GPL ICMP_INFO ISS Pinger (sid 2100465)"),
    Signature("whatsup", lambda d: b"WhatsUp - A Netw" in d[:64],
              "GPL ICMP_INFO PING WhatsupGold Windows (sid 2100482)"),
    # -- tunnels --------------------------------------------------------------------------------
    Signature("ptunnel", prefix(b"\xd5\x20\x08\x80"), "ptunnel 0.72 ptunnel.h: magic 0xD5200880"),
    Signature("ptunnel_ng", prefix(b"\xde\xad\xc0\xde"), "ptunnel-ng: default magic 0xDEADC0DE"),
    Signature("hans", hans, "hans echo.cpp: 'hanc' client / 'hans' server + type byte"),
    Signature("pingtunnel", pingtunnel, "pingtunnel msg.proto: field 1 = 32-char hex connection id"),
    Signature("icmptunnel", raw_ipv4_packet, "icmptunnel: echo data is a raw IPv4 packet"),
    # -- shapes ---------------------------------------------------------------------------------
    Signature("counting_fill", counting_from_zero,
              "iputils' fill before its timeval overwrites the first 16 bytes (ping.c: 'fill"
              " timestamp area too'): bytes counting up from 0x00, whole; what ping -s below 16"
              " sends, and a tool's plain counting fill.  It has the BSD row's layout but no send"
              " time, so that row passes it on; it hides nothing"),
    Signature("zeros", all_zero, "zero-filled data of a length no known sender uses"),
    Signature("printable_text", printable_text,
              "printable ASCII, as icmpsh carries command output (not an ordinary ping)"),
)

UNKNOWN = payload_classes.UNKNOWN

PAYLOAD_CLASSES: tuple[str, ...] = tuple(dict.fromkeys(s.payload_class for s in SIGNATURES)) + (
    IMITATION,
    UNKNOWN,
)

# Not echo data at all: ICMP errors and other types carry headers, not a sender's fill pattern.
NOT_ECHO = payload_classes.NOT_ECHO
