"""Frames to records: link layer, VLAN tags, tunnels, IPv4/IPv6, fragments, ICMP/ICMPv6, TCP SYN.

Each layer is a function that reads its header and hands the rest to the next layer through a
dispatch table (link type -> link decoder, EtherType -> network decoder, IP protocol -> transport
decoder).  A layer that cannot go on raises Skip (not our traffic) or Malformed (damaged), each
with a reason that ends up in the accounting, so every frame is either a record, a host
observation, a held fragment, skipped or malformed.
"""

from __future__ import annotations

import socket
from hashlib import sha256
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from ..accounting import Accounting
from ..record.build import build_fragment_anomaly, build_host_observation, build_icmp_record
from ..record.community import community_id, community_id_ip
from . import wire
from .fragments import ANOMALIES, TINY, Completed, FragmentError, Reassembler, tiny_first

MAX_ENCAPSULATION_DEPTH = 4  # tunnels inside tunnels beyond this are treated as malformed
MAX_OBSERVED_HOSTS = 65536  # hosts whose last SYN observation is remembered (oldest dropped)
#: Host observations per second of capture time, all hosts together.  The per-host interval
#: does nothing against a SYN flood from spoofed sources (each is a new host); beyond this the
#: SYNs are skipped, counted as tcp_syn_flood_limited.  Real hosts learn their hop distance from
#: their first SYN or an OS ping later anyway.
MAX_OBSERVATIONS_PER_S = 1000


class Skip(Exception):
    """Not something oddping records (not IP, not ICMP, not a TCP SYN ...)."""


class Malformed(Exception):
    """Damaged: a header shorter than it says, a length that does not fit, ..."""


@dataclass(slots=True)
class FrameContext:
    """What one frame is found under, filled in as layers are peeled off."""

    ts_ns: int
    snapped: bool  # captured length < wire length: the end of the frame is missing
    link: str = "ethernet"
    vlan_ids: list[int] = field(default_factory=list)
    encapsulation: list[str] = field(default_factory=list)
    out: list[dict] = field(default_factory=list)


@dataclass(slots=True)
class IPHeader:
    version: int
    src: bytes
    dst: bytes
    ttl: int
    ip_id: int | None
    total_len: int
    df: bool
    padding: int  # bytes after the datagram in its enclosing frame (Ethernet minimum-size pad)
    header_len: int  # up to the upper-layer header (IPv4 options, IPv6 extension headers)


_ntop4 = socket.inet_ntoa


def _ntop6(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, packed)


_NTOP = {4: _ntop4, 6: _ntop6}


class Decoder:
    """Decodes frames of any supported link type into record dicts, keeping the accounting."""

    def __init__(
        self, sensor_id: str = "unknown", syn_interval_s: float = 60.0
    ) -> None:
        self.sensor_id = sensor_id
        self.fast_path = True  # tests turn it off to compare it with the layer-by-layer path
        self.account = Accounting()
        self.reassembler = Reassembler()
        self._syn_interval_ns = int(syn_interval_s * 1_000_000_000)
        self._observation_second = 0  # capture second, and host observations made in it
        self._observations_in_second = 0
        self._last_syn_observation: OrderedDict[bytes, tuple[int, int]] = OrderedDict()
        self._link_decoders: dict[int, tuple[str, Callable]] = {
            wire.LINKTYPE_ETHERNET: ("ethernet", self._ethernet),
            wire.LINKTYPE_LINUX_SLL: ("linux_sll", self._sll),
            wire.LINKTYPE_LINUX_SLL2: ("linux_sll2", self._sll2),
            wire.LINKTYPE_RAW: ("raw", self._raw_ip),
            wire.LINKTYPE_RAW_DLT12: ("raw", self._raw_ip),
            wire.LINKTYPE_RAW_DLT14: ("raw", self._raw_ip),
            wire.LINKTYPE_IPV4: ("raw", self._raw_ip),
            wire.LINKTYPE_IPV6: ("raw", self._raw_ip),
            wire.LINKTYPE_NULL: ("loopback", self._bsd_loopback_host_order),
            wire.LINKTYPE_LOOP: ("loopback", self._bsd_loopback_network_order),
        }
        self._network: dict[int, Callable] = {
            wire.ETH_TYPE_IPV4: self._ipv4,
            wire.ETH_TYPE_IPV6: self._ipv6,
        }
        self._transport: dict[int, Callable] = {
            wire.IP_PROTO_ICMP: self._icmp,
            wire.IP_PROTO_ICMP6: self._icmp,
            wire.IP_PROTO_TCP: self._tcp,
            wire.IP_PROTO_UDP: self._udp,
            wire.IP_PROTO_GRE: self._gre,
            wire.IP_PROTO_IPIP: self._ip_in_ip,
            wire.IP_PROTO_IPV6: self._ip_in_ip,
        }
        self._gre_payloads: dict[int, Callable] = {
            wire.ETH_TYPE_TEB: self._gre_ethernet,
            wire.ETH_TYPE_IPV4: self._gre_ip,
            wire.ETH_TYPE_IPV6: self._gre_ip,
            wire.ETH_TYPE_ERSPAN2: self._erspan2,
            wire.ETH_TYPE_ERSPAN3: self._erspan3,
        }

    # -- entry points ------------------------------------------------------------------------

    def decode_frame(
        self, linktype: int, data: bytes, ts_ns: int, wire_len: int | None = None
    ) -> list[dict]:
        """Records found in one frame (usually zero or one).  Never raises on packet content."""
        account = self.account
        account.packets_read += 1
        entry = self._link_decoders.get(linktype)
        if entry is None:
            account.skipped["unsupported_link_type"] += 1
            return []
        if self.reassembler.held:
            self.reassembler.expire(ts_ns)
            self._settle_given_up_fragments()
        try:
            if linktype == wire.LINKTYPE_ETHERNET:
                record = self._ethernet_ipv4_icmp(data, ts_ns)
                if record is not None:
                    account.records += 1
                    return [record]
            ctx = FrameContext(ts_ns, wire_len is not None and wire_len > len(data), entry[0])
            entry[1](data, 0, len(data), ctx)
        except Skip as skip:
            account.skipped[skip.args[0]] += 1
            return []
        except Malformed as bad:
            account.malformed[bad.args[0]] += 1
            return []
        except FragmentError as err:
            self._count_fragment_error(err)
            return err.records  # a fragment_anomaly record, when the drop is one
        except Exception as exc:  # a decoder bug must cost one packet, never the capture
            account.malformed[f"decoder_error_{type(exc).__name__}"] += 1
            return []
        return ctx.out

    def finish(self) -> None:
        """End of input: fragments still waiting will never complete."""
        self.reassembler.drain()
        self._settle_given_up_fragments()

    # -- accounting helpers --------------------------------------------------------------------

    def _settle_given_up_fragments(self) -> None:
        account = self.account
        for reason, count in self.reassembler.given_up:
            account.pending_fragments -= count
            account.malformed[reason] += count
        self.reassembler.given_up.clear()

    def _count_fragment_error(self, err: FragmentError) -> None:
        account = self.account
        account.pending_fragments -= err.dropped
        if err.reason == "fragment_duplicate":
            account.skipped[err.reason] += 1
        else:
            account.malformed[err.reason] += 1 + err.dropped
        self._settle_given_up_fragments()

    # -- the fast path ---------------------------------------------------------------------------

    def _ethernet_ipv4_icmp(self, data: bytes, ts_ns: int) -> dict | None:
        """The record of an untagged Ethernet frame holding an unfragmented IPv4 datagram without
        options that holds an ICMP message, read with one unpack; None for any other frame (VLAN
        tag, IP options, fragment, snapped or inconsistent lengths ...), which then takes the
        layer-by-layer path.  Nearly every frame of an ICMP capture has this shape, and peeling
        it layer by layer (a call, a dispatch and a header object per layer) cost about a third
        of the decode.  It must give exactly what that path gives: tests/test_decode_inputs.py
        decodes the samples both ways and compares."""
        if not self.fast_path or len(data) < _FAST_FRAME_MIN:
            return None
        (_eth_dst, _eth_src, ethertype, v_hl, _tos, total_len, ip_id, flags_offset, ttl, proto,
         _ip_sum, src, dst, icmp_type, icmp_code, _icmp_sum, ident, seq,
         ) = wire.ETHERNET_IPV4_ICMP.unpack_from(data)
        datagram_end = wire.ETHERNET_LEN + total_len
        if (ethertype != wire.ETH_TYPE_IPV4 or v_hl != _IPV4_NO_OPTIONS or proto != wire.IP_PROTO_ICMP
                or flags_offset & _FRAGMENT_BITS or total_len < _IPV4_ICMP_MIN_LEN
                or datagram_end > len(data)):
            return None
        return build_icmp_record(
            self.sensor_id, ts_ns, 4, src, dst, ttl, ip_id, total_len,
            bool(flags_offset & 0x4000), False, icmp_type, icmp_code, ident, seq,
            _internet_checksum_ok(data[_FAST_ICMP_OFFSET:datagram_end]),
            bytes(data[_FAST_ICMP_OFFSET + wire.ICMP_HEADER_LEN:datagram_end]),
            total_len - _IPV4_ICMP_MIN_LEN, len(data) - datagram_end, "ethernet", [], [],
        )

    # -- link layers ---------------------------------------------------------------------------

    def _ethernet(self, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if end - off < wire.ETHERNET_LEN:
            raise Malformed("ethernet_truncated")
        ethertype = wire.ETHERNET.unpack_from(buf, off)[2]
        off += wire.ETHERNET_LEN
        while ethertype in (wire.ETH_TYPE_8021Q, wire.ETH_TYPE_8021AD, wire.ETH_TYPE_QINQ_LEGACY):
            if end - off < wire.VLAN_TAG_LEN:
                raise Malformed("vlan_tag_truncated")
            tci, ethertype = wire.VLAN_TAG.unpack_from(buf, off)
            ctx.vlan_ids.append(tci & 0x0FFF)
            off += wire.VLAN_TAG_LEN
        self._network_layer(ethertype, buf, off, end, ctx)

    def _sll(self, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if end - off < wire.SLL.size:
            raise Malformed("sll_truncated")
        self._network_layer(wire.SLL.unpack_from(buf, off)[4], buf, off + wire.SLL.size, end, ctx)

    def _sll2(self, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if end - off < wire.SLL2.size:
            raise Malformed("sll2_truncated")
        self._network_layer(wire.SLL2.unpack_from(buf, off)[0], buf, off + wire.SLL2.size, end, ctx)

    def _raw_ip(self, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if end <= off:
            raise Malformed("ip_header_truncated")
        version = buf[off] >> 4
        self._network_layer(_ETHERTYPE_FOR_VERSION.get(version, 0), buf, off, end, ctx)

    def _bsd_loopback_host_order(self, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if end - off < 4:
            raise Malformed("loopback_truncated")
        # DLT_NULL stores the family in the capturing host's byte order; either order is < 256.
        family = int.from_bytes(buf[off:off + 4], "little")
        if family > 0xFFFF:
            family = int.from_bytes(buf[off:off + 4], "big")
        self._loopback_family(family, buf, off + 4, end, ctx)

    def _bsd_loopback_network_order(self, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if end - off < 4:
            raise Malformed("loopback_truncated")
        self._loopback_family(int.from_bytes(buf[off:off + 4], "big"), buf, off + 4, end, ctx)

    def _loopback_family(self, family: int, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if family == wire.LOOPBACK_FAMILY_IPV4:
            self._ipv4(buf, off, end, ctx)
        elif family in wire.LOOPBACK_FAMILIES_IPV6:
            self._ipv6(buf, off, end, ctx)
        else:
            raise Skip("not_ip")

    def _network_layer(self, ethertype: int, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        decode = self._network.get(ethertype)
        if decode is None:
            raise Skip("not_ip")
        decode(buf, off, end, ctx)

    # -- IP ------------------------------------------------------------------------------------

    def _datagram_end(self, off: int, total_len: int, end: int, ctx: FrameContext) -> int:
        """Where the datagram ends in the buffer; a length beyond the frame is damage unless the
        capture cut the frame short (snaplen)."""
        datagram_end = off + total_len
        if datagram_end > end and not ctx.snapped:
            raise Malformed("ip_length_exceeds_frame")
        return datagram_end

    def _ipv4(self, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if end - off < wire.IPV4_MIN_LEN:
            raise Malformed("ip_header_truncated")
        v_hl, _tos, total_len, ip_id, flags_offset, ttl, proto, _sum, src, dst = (
            wire.IPV4.unpack_from(buf, off)
        )
        if v_hl >> 4 != 4:
            raise Malformed("bad_ip_version")
        header_len = (v_hl & 0x0F) * 4
        if header_len < wire.IPV4_MIN_LEN:
            raise Malformed("bad_ip_header_length")
        if total_len < header_len:
            raise Malformed("bad_ip_total_length")
        if off + header_len > end:
            raise Malformed("ip_header_truncated")
        datagram_end = self._datagram_end(off, total_len, end, ctx)
        header = IPHeader(4, src, dst, ttl, ip_id, total_len, bool(flags_offset & 0x4000),
                          max(0, end - datagram_end), header_len)
        fragment_offset = (flags_offset & 0x1FFF) * 8
        more_fragments = bool(flags_offset & 0x2000)
        l4 = off + header_len
        if fragment_offset or more_fragments:
            self._fragment(proto, (4, src, dst, ip_id, proto), fragment_offset, more_fragments,
                           buf, l4, min(datagram_end, end), header, ctx)
            return
        self._transport_layer(proto, buf, l4, datagram_end, min(datagram_end, end), header, ctx)

    def _ipv6(self, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if end - off < wire.IPV6_LEN:
            raise Malformed("ip_header_truncated")
        v_fc_flow, payload_len, next_header, hop_limit, src, dst = wire.IPV6.unpack_from(buf, off)
        if v_fc_flow >> 28 != 6:
            raise Malformed("bad_ip_version")
        if payload_len == 0:
            raise Skip("ipv6_jumbogram_or_empty")
        datagram_end = self._datagram_end(off, wire.IPV6_LEN + payload_len, end, ctx)
        captured_end = min(datagram_end, end)
        header = IPHeader(6, src, dst, hop_limit, None, wire.IPV6_LEN + payload_len, False,
                          max(0, end - datagram_end), wire.IPV6_LEN)
        pos = off + wire.IPV6_LEN
        extension_lengths = wire.IPV6_EXTENSION_HEADERS
        while True:
            unit = extension_lengths.get(next_header)
            if unit is not None:
                if captured_end - pos < 2:
                    raise Malformed("ipv6_extension_header_truncated")
                following, length = buf[pos], buf[pos + 1]
                pos += (length + 2) * 4 if unit == 4 else (length + 1) * 8
                if pos > captured_end:
                    raise Malformed("ipv6_extension_header_truncated")
                next_header = following
                continue
            if next_header == wire.IP_PROTO_FRAGMENT:
                if captured_end - pos < wire.IPV6_FRAGMENT.size:
                    raise Malformed("ipv6_extension_header_truncated")
                following, _, offset_flags, frag_id = wire.IPV6_FRAGMENT.unpack_from(buf, pos)
                pos += wire.IPV6_FRAGMENT.size
                header.ip_id = frag_id
                header.header_len = pos - off
                fragment_offset = offset_flags & 0xFFF8
                more_fragments = bool(offset_flags & 1)
                if fragment_offset or more_fragments:
                    self._fragment(following, (6, src, dst, frag_id, following), fragment_offset,
                                   more_fragments, buf, pos, captured_end, header, ctx)
                    return
                next_header = following  # an atomic fragment: the whole datagram is here
                continue
            break
        header.header_len = pos - off
        self._transport_layer(next_header, buf, pos, datagram_end, captured_end, header, ctx)

    def _transport_layer(
        self, proto: int, buf: bytes, off: int, datagram_end: int, captured_end: int,
        ip: IPHeader, ctx: FrameContext,
    ) -> None:
        decode = self._transport.get(proto)
        if decode is None:
            raise Skip(_SKIP_REASON_FOR_PROTO.get(proto, "not_icmp"))
        decode(proto, buf, off, datagram_end, captured_end, ip, ctx)

    def _fragment(
        self, proto: int, key: tuple, offset: int, more: bool, buf: bytes, l4: int,
        captured_end: int, ip: IPHeader, ctx: FrameContext,
    ) -> None:
        if proto not in (wire.IP_PROTO_ICMP, wire.IP_PROTO_ICMP6):
            raise Skip("fragment_not_icmp")
        if ctx.snapped:
            raise Skip("fragment_not_captured_whole")
        data = bytes(buf[l4:captured_end])
        if tiny_first(offset, more, len(data)):
            self._fragment_anomaly(TINY, key, ip, ctx, 1, None, data, data)
        try:
            result = self.reassembler.add(key, ctx.ts_ns, offset, more, data,
                                          ip if offset == 0 else None)
        except FragmentError as err:
            anomaly = ANOMALIES.get(err.reason)
            if anomaly is not None:
                self._fragment_anomaly(anomaly, key, ip, ctx, err.dropped + 1, err.size, data,
                                       err.head)
            err.records = ctx.out
            raise
        self._settle_given_up_fragments()
        if result is None:
            self.account.pending_fragments += 1
            return
        assert isinstance(result, Completed)
        first: IPHeader = result.header or ip
        # the fragments held before this one were merged into this frame's record
        self.account.pending_fragments -= result.fragments - 1
        self.account.skipped["fragment_reassembled"] += result.fragments - 1
        message = result.data
        reassembled = IPHeader(
            first.version, first.src, first.dst, first.ttl, first.ip_id,
            first.header_len + len(message), first.df, 0, first.header_len,
        )
        self._icmp(proto, message, 0, len(message), len(message), reassembled, ctx,
                   fragmented=True)

    def _fragment_anomaly(self, anomaly: str, key: tuple, ip: IPHeader, ctx: FrameContext,
                          fragments: int, size: int | None, data: bytes,
                          head: bytes | None) -> None:
        """A fragment_anomaly record (fragments.ANOMALIES, tiny_first): counted apart, since the
        frame itself still ends in its own bucket (malformed, pending or reassembled).  head:
        the first fragment's data, when at hand, for the ICMP type and code."""
        ntop = _NTOP[ip.version]
        icmp_type = icmp_code = None
        if head is not None and len(head) >= 2:
            icmp_type, icmp_code = head[0], head[1]
            flow = community_id(ip.version, ip.src, ip.dst, icmp_type, icmp_code)
        else:
            flow = community_id_ip(ip.version, ip.src, ip.dst)
        ctx.out.append(build_fragment_anomaly(
            sensor_id=self.sensor_id, ts_ns=ctx.ts_ns, ip_version=ip.version,
            src_ip=ntop(ip.src), dst_ip=ntop(ip.dst), ttl=ip.ttl, ip_id=key[3],  # IPv6: fragment id
            anomaly=anomaly, fragments=fragments, size=size, fragment_len=len(data),
            icmp_type=icmp_type, icmp_code=icmp_code, payload_sha256=sha256(data).hexdigest(),
            community_id=flow,
        ))
        self.account.fragment_anomalies += 1

    # -- transports ----------------------------------------------------------------------------

    def _icmp(
        self, proto: int, buf: bytes, off: int, datagram_end: int, captured_end: int,
        ip: IPHeader, ctx: FrameContext, fragmented: bool = False,
    ) -> None:
        if datagram_end - off < wire.ICMP_HEADER_LEN:
            raise Malformed("icmp_truncated")
        if captured_end - off < wire.ICMP_HEADER_LEN:
            raise Malformed("frame_truncated")
        icmp_type, icmp_code, _sum, ident, seq = wire.ICMP.unpack_from(buf, off)
        if ip.version == 4 and proto != wire.IP_PROTO_ICMP or ip.version == 6 and proto != wire.IP_PROTO_ICMP6:
            raise Skip("icmp_version_mismatch")
        checksum_ok = None
        if captured_end == datagram_end:
            message = buf[off:datagram_end]
            if ip.version == 6:
                message = ip.src + ip.dst + len(message).to_bytes(4, "big") + b"\0\0\0\x3a" + message
            checksum_ok = _internet_checksum_ok(message)
        payload = buf[off + wire.ICMP_HEADER_LEN:captured_end]
        ctx.out.append(build_icmp_record(
            sensor_id=self.sensor_id, ts_ns=ctx.ts_ns,
            ip_version=ip.version, src=ip.src, dst=ip.dst, ttl=ip.ttl,
            ip_id=ip.ip_id, ip_total_len=ip.total_len, df=ip.df, fragmented=fragmented,
            icmp_type=icmp_type, icmp_code=icmp_code, ident=ident, seq=seq,
            checksum_ok=checksum_ok, payload=bytes(payload),
            payload_len=datagram_end - off - wire.ICMP_HEADER_LEN,
            padding=ip.padding, link=ctx.link, vlan_ids=ctx.vlan_ids,
            encapsulation=ctx.encapsulation,
        ))
        self.account.records += 1

    def _tcp(
        self, proto: int, buf: bytes, off: int, datagram_end: int, captured_end: int,
        ip: IPHeader, ctx: FrameContext,
    ) -> None:
        if captured_end - off <= wire.TCP_FLAGS_OFFSET:
            raise Malformed("tcp_truncated")
        if buf[off + wire.TCP_FLAGS_OFFSET] & (wire.TCP_SYN | wire.TCP_ACK) != wire.TCP_SYN:
            raise Skip("tcp_not_syn")
        # A host's SYNs show its initial TTL; one observation per host per interval is plenty.
        last = self._last_syn_observation.get(ip.src)
        if last is not None and last[1] == ip.ttl and ctx.ts_ns - last[0] < self._syn_interval_ns:
            raise Skip("tcp_syn_rate_limited")
        second = ctx.ts_ns // 1_000_000_000
        if second != self._observation_second:
            self._observation_second, self._observations_in_second = second, 0
        if self._observations_in_second >= MAX_OBSERVATIONS_PER_S:
            raise Skip("tcp_syn_flood_limited")
        self._observations_in_second += 1
        if last is None and len(self._last_syn_observation) >= MAX_OBSERVED_HOSTS:
            self._last_syn_observation.popitem(last=False)
        self._last_syn_observation[ip.src] = (ctx.ts_ns, ip.ttl)
        self._last_syn_observation.move_to_end(ip.src)
        ntop = _NTOP[ip.version]
        ctx.out.append(build_host_observation(
            sensor_id=self.sensor_id, ts_ns=ctx.ts_ns,
            ip_version=ip.version, src_ip=ntop(ip.src), dst_ip=ntop(ip.dst), ttl=ip.ttl,
        ))
        self.account.host_observations += 1

    def _udp(
        self, proto: int, buf: bytes, off: int, datagram_end: int, captured_end: int,
        ip: IPHeader, ctx: FrameContext,
    ) -> None:
        if captured_end - off < wire.UDP_LEN:
            raise Malformed("udp_truncated")
        if wire.UDP.unpack_from(buf, off)[1] != wire.VXLAN_UDP_PORT:
            raise Skip("not_icmp")
        inner = off + wire.UDP_LEN
        if captured_end - inner < wire.VXLAN_LEN:
            raise Malformed("vxlan_truncated")
        if not buf[inner] & 0x08:  # the I flag: a valid VNI follows (RFC 7348)
            raise Skip("not_icmp")
        self._tunnel("vxlan", ctx)
        self._ethernet(buf, inner + wire.VXLAN_LEN, captured_end, ctx)

    def _ip_in_ip(
        self, proto: int, buf: bytes, off: int, datagram_end: int, captured_end: int,
        ip: IPHeader, ctx: FrameContext,
    ) -> None:
        inner_version = 4 if proto == wire.IP_PROTO_IPIP else 6
        self._tunnel(_IP_IN_IP_NAMES[(inner_version, ip.version)], ctx)
        (self._ipv4 if inner_version == 4 else self._ipv6)(buf, off, captured_end, ctx)

    def _gre(
        self, proto: int, buf: bytes, off: int, datagram_end: int, captured_end: int,
        ip: IPHeader, ctx: FrameContext,
    ) -> None:
        if captured_end - off < wire.GRE.size:
            raise Malformed("gre_truncated")
        flags, gre_proto = wire.GRE.unpack_from(buf, off)
        if flags & 0x0007 or flags & 0x4000:  # version != 0 (PPTP) or source routing (obsolete)
            raise Skip("gre_unsupported_version")
        header_len = 4 + 4 * bool(flags & 0x8000) + 4 * bool(flags & 0x2000) + 4 * bool(flags & 0x1000)
        if captured_end - off < header_len:
            raise Malformed("gre_truncated")
        decode = self._gre_payloads.get(gre_proto)
        if decode is None:
            raise Skip("gre_not_ip")
        decode(bool(flags & 0x1000), buf, off + header_len, captured_end, ctx)

    def _gre_ethernet(self, _seq: bool, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        self._tunnel("gre", ctx)
        self._ethernet(buf, off, end, ctx)

    def _gre_ip(self, _seq: bool, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        self._tunnel("gre", ctx)
        self._raw_ip(buf, off, end, ctx)

    def _erspan2(self, has_sequence: bool, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if not has_sequence:  # ERSPAN type I: no sequence number and no ERSPAN header
            self._tunnel("erspan1", ctx)
            self._ethernet(buf, off, end, ctx)
            return
        if end - off < wire.ERSPAN2_LEN:
            raise Malformed("erspan_truncated")
        self._tunnel("erspan2", ctx)
        self._ethernet(buf, off + wire.ERSPAN2_LEN, end, ctx)

    def _erspan3(self, _seq: bool, buf: bytes, off: int, end: int, ctx: FrameContext) -> None:
        if end - off < wire.ERSPAN3_LEN:
            raise Malformed("erspan_truncated")
        last = buf[off + 11]
        frame_type = (buf[off + 10] >> 2) & 0x1F  # ft: 0 Ethernet, 2 IP
        inner = off + wire.ERSPAN3_LEN + (wire.ERSPAN3_PLATFORM_LEN if last & 0x01 else 0)
        if inner > end:
            raise Malformed("erspan_truncated")
        self._tunnel("erspan3", ctx)
        if frame_type == 2:
            self._raw_ip(buf, inner, end, ctx)
        else:
            self._ethernet(buf, inner, end, ctx)

    def _tunnel(self, name: str, ctx: FrameContext) -> None:
        if len(ctx.encapsulation) >= MAX_ENCAPSULATION_DEPTH:
            raise Malformed("encapsulation_too_deep")
        ctx.encapsulation.append(name)


def _internet_checksum_ok(data: bytes) -> bool:
    """RFC 1071: the ones'-complement sum of the 16-bit words, checksum included, is 0xFFFF.
    That sum is the big integer of the data modulo 0xFFFF (2**16 = 1 mod 0xFFFF), with a zero
    remainder standing for 0xFFFF; one big-integer operation instead of a loop over words."""
    if len(data) % 2:
        data += b"\0"
    total = int.from_bytes(data, "big")
    return total != 0 and total % 0xFFFF == 0


_ETHERTYPE_FOR_VERSION = {4: wire.ETH_TYPE_IPV4, 6: wire.ETH_TYPE_IPV6}
_FAST_FRAME_MIN = wire.ETHERNET_IPV4_ICMP.size
_FAST_ICMP_OFFSET = wire.ETHERNET_LEN + wire.IPV4_MIN_LEN
_IPV4_NO_OPTIONS = 0x45  # version 4, header length 5 words
_FRAGMENT_BITS = 0x3FFF  # more-fragments flag and fragment offset
_IPV4_ICMP_MIN_LEN = wire.IPV4_MIN_LEN + wire.ICMP_HEADER_LEN
_IP_IN_IP_NAMES = {(4, 4): "ipip", (6, 4): "ip6in4", (4, 6): "ip4in6", (6, 6): "ip6in6"}
_SKIP_REASON_FOR_PROTO = {
    wire.IP_PROTO_ESP: "encrypted_esp",
    wire.IP_PROTO_NONE: "ipv6_no_next_header",
}
