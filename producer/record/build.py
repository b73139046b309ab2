"""Record dicts, field for field as schemas/icmp_record.schema.json defines them."""

from __future__ import annotations

import socket
from binascii import b2a_base64
from hashlib import sha256

from oddping import RECORD_SCHEMA_VERSION
from oddping.ttl import hop_distance_guess, initial_ttl_guess

from .classify import classify_payload
from .payload_signatures import NOT_ECHO
from .community import community_id

PAYLOAD_PREVIEW_BYTES = 256

# Echo types carry an identifier and sequence number (RFC 792, RFC 4443).
ECHO_TYPES = {4: frozenset({0, 8}), 6: frozenset({128, 129})}
# Types sent by the host that starts an exchange; for every other type (replies, errors,
# advertisements) the host that started it is the destination.
INITIATOR_IS_SOURCE = {
    4: frozenset({8, 10, 13, 15, 17}),  # echo, router solicitation, timestamp, info, mask
    6: frozenset({128, 130, 133, 135, 139}),  # echo, MLD query, RS, NS, node info query
}


# What a record says about its flow (addresses as text, the initiator, the Community ID) depends
# only on (src, dst, type, code), and a sensor sees few of those compared with packets: worked
# out once per flow, it costs one dict lookup instead of ~1.5 µs per record.
FLOW_CACHE_MAX = 65536  # flows remembered (~0.5 kB each); when full, start over (no LRU upkeep)
_flows: dict[tuple[bytes, bytes, int, int], tuple[str, str, str, str]] = {}


def _flow(ip_version: int, src: bytes, dst: bytes, icmp_type: int, icmp_code: int,
          key: tuple[bytes, bytes, int, int]) -> tuple[str, str, str, str]:
    """(src_ip, dst_ip, initiator_ip, community_id) of a flow, cached under `key`."""
    if ip_version == 4:
        src_ip, dst_ip = socket.inet_ntoa(src), socket.inet_ntoa(dst)
    else:
        src_ip, dst_ip = socket.inet_ntop(socket.AF_INET6, src), socket.inet_ntop(socket.AF_INET6, dst)
    initiator_ip = src_ip if icmp_type in INITIATOR_IS_SOURCE[ip_version] else dst_ip
    facts = (src_ip, dst_ip, initiator_ip, community_id(ip_version, src, dst, icmp_type, icmp_code))
    if len(_flows) >= FLOW_CACHE_MAX:
        _flows.clear()
    _flows[key] = facts
    return facts


def build_icmp_record(
    sensor_id: str, ts_ns: int, ip_version: int, src: bytes, dst: bytes,
    ttl: int, ip_id: int | None, ip_total_len: int, df: bool, fragmented: bool, icmp_type: int,
    icmp_code: int, ident: int, seq: int, checksum_ok: bool | None, payload: bytes,
    payload_len: int, padding: int, link: str, vlan_ids: list[int], encapsulation: list[str],
) -> dict:
    """src and dst are the packed addresses (4 or 16 bytes).  The decoder's fast path passes the
    arguments by position: with 21 of them, a call by keyword costs ~2 µs more."""
    is_echo = icmp_type in ECHO_TYPES[ip_version]
    flow_key = (src, dst, icmp_type, icmp_code)  # the address length says the IP version
    src_ip, dst_ip, initiator_ip, flow_community_id = (
        _flows.get(flow_key) or _flow(ip_version, src, dst, icmp_type, icmp_code, flow_key))
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "kind": "icmp",
        "ts_ns": ts_ns,
        "sensor_id": sensor_id,
        "ip_version": ip_version,
        "src_ip": src_ip,
        "dst_ip": dst_ip,
        "initiator_ip": initiator_ip,
        "ttl": ttl,
        "initial_ttl_guess": initial_ttl_guess(ttl),
        "hop_distance_guess": hop_distance_guess(ttl),
        "ip_id": ip_id,
        "ip_total_len": ip_total_len,
        "df": df,
        "fragmented": fragmented,
        "icmp_type": icmp_type,
        "icmp_code": icmp_code,
        "icmp_id": ident if is_echo else None,
        "icmp_seq": seq if is_echo else None,
        "icmp_checksum_ok": checksum_ok,
        "payload_len": payload_len,
        "payload_b64": b2a_base64(payload[:PAYLOAD_PREVIEW_BYTES], newline=False).decode(),
        "payload_sha256": sha256(payload).hexdigest(),
        "payload_captured_len": len(payload),
        "eth_padding_len": padding,
        "payload_class": classify_payload(payload, ident, seq, ts_ns) if is_echo else NOT_ECHO,
        "link": link,
        "vlan_ids": vlan_ids,
        "encapsulation": encapsulation,
        "community_id": flow_community_id,
    }


def _from_sender(
    kind: str, sensor_id: str, ts_ns: int, ip_version: int, src_ip: str, dst_ip: str, ttl: int
) -> dict:
    """The fields a record keyed by its packet's sender starts with (host observations and
    fragment anomalies: the sender is the initiator)."""
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "kind": kind,
        "ts_ns": ts_ns,
        "sensor_id": sensor_id,
        "ip_version": ip_version,
        "src_ip": src_ip,
        "dst_ip": dst_ip,
        "initiator_ip": src_ip,
        "ttl": ttl,
        "initial_ttl_guess": initial_ttl_guess(ttl),
        "hop_distance_guess": hop_distance_guess(ttl),
    }


def build_host_observation(
    *, sensor_id: str, ts_ns: int, ip_version: int, src_ip: str, dst_ip: str, ttl: int
) -> dict:
    record = _from_sender("host_observation", sensor_id, ts_ns, ip_version, src_ip, dst_ip, ttl)
    record["observed"] = "tcp_syn"
    return record


def build_fragment_anomaly(
    *, sensor_id: str, ts_ns: int, ip_version: int, src_ip: str, dst_ip: str, ttl: int,
    ip_id: int, anomaly: str, fragments: int, size: int | None, fragment_len: int,
    icmp_type: int | None, icmp_code: int | None, payload_sha256: str, community_id: str,
) -> dict:
    """A fragment anomaly seen during reassembly (producer/decode/fragments.py): keyed by the
    fragments' sender, which is the initiator of what they carry.  icmp_type and icmp_code come
    from the first fragment when it was at hand (else None); payload_sha256 is the hash of the
    data of the fragment that showed the anomaly."""
    record = _from_sender("fragment_anomaly", sensor_id, ts_ns, ip_version, src_ip, dst_ip, ttl)
    record.update({
        "ip_id": ip_id,
        "anomaly": anomaly,
        "fragments": fragments,
        "size": size,
        "fragment_len": fragment_len,
        "icmp_type": icmp_type,
        "icmp_code": icmp_code,
        "payload_sha256": payload_sha256,
        "community_id": community_id,
    })
    return record
