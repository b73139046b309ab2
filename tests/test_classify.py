"""Every payload class the classifier can name has a positive case built the way its sender
builds it (samples/craft.py), and near misses fall through to the next row or `unknown`."""

from __future__ import annotations

import pytest

from producer.record.classify import classify_payload
from producer.record.payload_signatures import PAYLOAD_CLASSES, UNKNOWN
from samples import craft

# class -> (data, icmp_id, icmp_seq) as the sender puts it on the wire
POSITIVE = {
    "windows": (craft.payload_windows(), 1, 40),
    "linux_iputils": (craft.payload_linux(1678784400.25), 0x1F2E, 1),
    "bsd": (craft.payload_bsd(1678784400.5), 0x4D2, 0),
    "fping": (craft.payload_fping(), 0x2222, 3),
    "busybox": (craft.payload_busybox(), 0x333, 0),
    "cisco_ios": (craft.payload_cisco(), 0x1, 0),
    "single_question": (craft.payload_single_question(), 0x200, 7),
    "traceroute_linux": (craft.payload_traceroute_linux(), 0x7001, 1),
    "mtr": (craft.payload_mtr(), 0x7002, 33000),
    "icmpenum": (craft.payload_icmpenum(), 666, 0),
    "empty": (craft.payload_nmap(), 0xBEEF, 0),
    "nemesis": (craft.payload_nemesis(), 0, 0),
    "broadscan_smurf": (craft.payload_broadscan_smurf(), 0, 0),
    "nmap_os_detection": (craft.payload_nmap_os_detection(), 0xABCD, 295),
    "superscan": (craft.payload_superscan(), 0x1234, 5),
    "windows_snort_0123": (craft.payload_windows_snort_0123(), 1, 1),
    "l3retriever": (craft.payload_l3retriever(), 1, 1),
    "cyberkit": (craft.payload_cyberkit(), 1, 1),
    "sniffer_pro": (craft.payload_sniffer_pro(), 1, 1),
    "delphi_piette": (craft.payload_delphi_piette(), 1, 1),
    "iss_pinger": (craft.payload_iss_pinger(), 1, 1),
    "whatsup": (craft.payload_whatsup(), 1, 1),
    "ptunnel": (craft.payload_ptunnel(b"ssh bytes"), 0x4242, 7),
    "ptunnel_ng": (craft.payload_ptunnel_ng(b"ssh bytes"), 0x4242, 8),
    "hans": (craft.payload_hans(), 0x1111, 1),
    "pingtunnel": (craft.payload_pingtunnel(), 0x5151, 9),
    "icmptunnel": (craft.payload_icmptunnel(), 0x9876, 0x1357),
    "zeros": (craft.payload_zeros(2), 1, 40),
    "counting_fill": (craft.payload_large(1000), 0x2222, 27),
    # 16 bytes that are no timeval (microseconds over 10^6), then iputils' counting bytes
    "ping_imitation": (bytes(range(0xF0, 0x100)) + bytes(range(0x10, 0x38)), 0x1F2E, 1),
    "printable_text": (craft.payload_icmpsh(), 0x1, 2),
    "unknown": (bytes([0x13, 0x37, 0xC0, 0xFF, 0xEE, 0x01, 0x02]), 1, 1),
}


def test_every_class_has_a_positive_case() -> None:
    assert set(POSITIVE) == set(PAYLOAD_CLASSES)


@pytest.mark.parametrize("payload_class", sorted(POSITIVE))
def test_sender_data_is_named(payload_class: str) -> None:
    data, ident, seq = POSITIVE[payload_class]
    # captured within seconds of the send times craft writes into Linux and BSD data
    assert classify_payload(data, ident, seq, 1_678_784_401 * 10**9) == payload_class


@pytest.mark.parametrize(("data", "ident", "seq", "expected"), [
    # one byte off the Windows alphabet is no longer Windows, only printable text
    (craft.payload_windows()[:-1] + b"X", 1, 1, "printable_text"),
    # nemesis fixes id and seq at 0; the same 20 zero bytes elsewhere are only zeros
    (craft.payload_nemesis(), 0, 9, "zeros"),
    # icmpenum is empty *with id 666*; other empty requests are nmap/hping3
    (b"", 665, 0, "empty"),
    # nmap's OS probes are 120/150 zeros at seq 295/296 only
    (bytes(120), 0xABCD, 300, "zeros"),
    # a BSD ramp starts at 0x08 after 8 bytes: it must not be read as Linux
    (b"\x11" * 8 + bytes(range(0x08, 0x38)), 5, 5, "bsd"),
    # Linux keeps its 16-byte timeval before the ramp: one whose microseconds are no
    # microseconds is a look-alike (the capture time is checked in tests/test_hardening.py)
    (b"\x22" * 16 + bytes(range(0x10, 0x38)), 5, 5, "ping_imitation"),
    (b"\x22" * 8 + bytes(8) + bytes(range(0x10, 0x38)), 5, 5, "linux_iputils"),
    # a stray 0x45 byte does not make an IPv4 packet
    (b"\x45\x00\x00\x63" + bytes(range(200, 236)), 1, 1, UNKNOWN),
])
def test_near_misses(data: bytes, ident: int, seq: int, expected: str) -> None:
    assert classify_payload(data, ident, seq) == expected
