"""Wire formats, taken from dpkt's own header tables so there is one definition of each layout.

dpkt declares every header as a `__hdr__` table; its metaclass turns that into `__hdr_fmt__`.
We unpack those same formats with `struct` directly instead of building a dpkt object per layer,
which costs about 12 µs per Ethernet/IPv4/ICMP frame (see bench/): the layouts stay dpkt's, the
per-packet object churn goes away.
"""

from __future__ import annotations

import struct

import dpkt

ETHERNET = struct.Struct(dpkt.ethernet.Ethernet.__hdr_fmt__)  # dst, src, type
VLAN_TAG = struct.Struct(dpkt.ethernet.VLANtag8021Q.__hdr_fmt__)  # pri/cfi/id, type
SLL = struct.Struct(dpkt.sll.SLL.__hdr_fmt__)  # type, hrd, hlen, hdr, ethtype
SLL2 = struct.Struct(dpkt.sll2.SLL2.__hdr_fmt__)  # ethtype, mbz, ifindex, hrd, type, hlen, hdr
IPV4 = struct.Struct(dpkt.ip.IP.__hdr_fmt__)  # v_hl, tos, len, id, flags_off, ttl, p, sum, src, dst
IPV6 = struct.Struct(dpkt.ip6.IP6.__hdr_fmt__)  # v_fc_flow, plen, nxt, hlim, src, dst
IPV6_FRAGMENT = struct.Struct(dpkt.ip6.IP6FragmentHeader.__hdr_fmt__)  # nxt, resv, off_m, id
GRE = struct.Struct(dpkt.gre.GRE.__hdr_fmt__)  # flags, proto
ICMP = struct.Struct(dpkt.icmp.ICMP.__hdr_fmt__ + "HH")  # type, code, sum, id, seq (echo)
UDP = struct.Struct(dpkt.udp.UDP.__hdr_fmt__)  # sport, dport, ulen, sum
TCP_FLAGS_OFFSET = 13  # byte 13 of the TCP header holds the flags (RFC 9293)
# The frame most ICMP captures are made of, Ethernet + IPv4 + ICMP echo header, as one layout
# (dpkt's three tables end to end) so the decoder's fast path reads it in one unpack:
# eth dst, src, type | v_hl, tos, len, id, flags_off, ttl, p, sum, src, dst | type, code, sum, id, seq
ETHERNET_IPV4_ICMP = struct.Struct(
    ">" + "".join(fmt.lstrip("<>!=@") for fmt in (ETHERNET.format, IPV4.format, ICMP.format)))

ETHERNET_LEN = ETHERNET.size
VLAN_TAG_LEN = VLAN_TAG.size
IPV4_MIN_LEN = IPV4.size
IPV6_LEN = IPV6.size
ICMP_HEADER_LEN = 8  # type, code, checksum + 4 bytes of "rest of header" (id/seq for echo)
UDP_LEN = UDP.size
VXLAN_LEN = 8  # flags(1) reserved(3) VNI(3) reserved(1), RFC 7348
ERSPAN2_LEN = 8  # ver/vlan, cos/en/t/session, reserved/index
ERSPAN3_LEN = 12  # ver/vlan, cos/bso/t/session, timestamp, sgt/p/ft/hw/d/gra/o
ERSPAN3_PLATFORM_LEN = 8  # optional platform-specific subheader when the O bit is set

# IANA registries (via dpkt's constants where it has them).
ETH_TYPE_IPV4 = dpkt.ethernet.ETH_TYPE_IP
ETH_TYPE_IPV6 = dpkt.ethernet.ETH_TYPE_IP6
ETH_TYPE_8021Q = dpkt.ethernet.ETH_TYPE_8021Q
ETH_TYPE_8021AD = dpkt.ethernet.ETH_TYPE_8021AD
ETH_TYPE_QINQ_LEGACY = 0x9100  # pre-802.1ad QinQ, still emitted by some switches
ETH_TYPE_TEB = dpkt.ethernet.ETH_TYPE_TEB  # transparent Ethernet bridging (GRE 0x6558)
ETH_TYPE_ERSPAN2 = 0x88BE  # ERSPAN type I/II over GRE (draft-foschiano-erspan)
ETH_TYPE_ERSPAN3 = 0x22EB  # ERSPAN type III over GRE

IP_PROTO_ICMP = dpkt.ip.IP_PROTO_ICMP
IP_PROTO_ICMP6 = dpkt.ip.IP_PROTO_ICMP6
IP_PROTO_TCP = dpkt.ip.IP_PROTO_TCP
IP_PROTO_UDP = dpkt.ip.IP_PROTO_UDP
IP_PROTO_GRE = dpkt.ip.IP_PROTO_GRE
IP_PROTO_IPIP = dpkt.ip.IP_PROTO_IPIP  # 4
IP_PROTO_IPV6 = dpkt.ip.IP_PROTO_IP6  # 41
IP_PROTO_ESP = dpkt.ip.IP_PROTO_ESP
IP_PROTO_NONE = dpkt.ip.IP_PROTO_NONE  # IPv6 "no next header"

# IPv6 extension headers we walk to reach the upper layer: (hdr ext len unit, length offset).
IPV6_EXTENSION_HEADERS = {
    dpkt.ip.IP_PROTO_HOPOPTS: 8,
    dpkt.ip.IP_PROTO_ROUTING: 8,
    dpkt.ip.IP_PROTO_DSTOPTS: 8,
    dpkt.ip.IP_PROTO_AH: 4,  # AH counts 32-bit words minus 2 (RFC 4302)
}
IP_PROTO_FRAGMENT = dpkt.ip.IP_PROTO_FRAGMENT  # 44

VXLAN_UDP_PORT = 4789  # IANA

# Link types (LINKTYPE_* registry, tcpdump.org/linktypes.html).
LINKTYPE_NULL = dpkt.pcap.DLT_NULL  # BSD loopback, host-order 4-byte family
LINKTYPE_ETHERNET = dpkt.pcap.DLT_EN10MB
LINKTYPE_RAW = 101  # LINKTYPE_RAW in files
LINKTYPE_RAW_DLT12 = 12  # DLT_RAW on OpenBSD and some Linux builds
LINKTYPE_RAW_DLT14 = 14  # DLT_RAW on older BSDs
LINKTYPE_LOOP = dpkt.pcap.DLT_LOOP  # OpenBSD loopback, network-order family
LINKTYPE_LINUX_SLL = dpkt.pcap.DLT_LINUX_SLL  # 113
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229

# BSD loopback address family values for IPv6 differ by OS (NetBSD/OpenBSD 24, FreeBSD 28, macOS 30).
LOOPBACK_FAMILY_IPV4 = 2
LOOPBACK_FAMILIES_IPV6 = frozenset({24, 28, 30})

TCP_SYN = dpkt.tcp.TH_SYN
TCP_ACK = dpkt.tcp.TH_ACK
