"""Property tests: no frame, however damaged, makes ``Decoder.decode_frame`` raise, and after
every call the books balance (each frame read is a record, a host observation, a held fragment,
skipped or malformed).  Inputs are random bytes for every link type and valid frames (echoes,
errors, SYNs, tunnels, extension headers, fragments) with bits flipped, bytes cut off and length
fields overwritten."""

from __future__ import annotations

import inspect
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samples import craft as c
from schemas import first_error

FUZZ = settings(max_examples=400, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

LINKTYPES = [c.LINKTYPE_ETHERNET, c.LINKTYPE_LINUX_SLL, c.LINKTYPE_LINUX_SLL2, c.LINKTYPE_RAW,
             c.LINKTYPE_NULL, 12, 14, 108, 228, 229, 9999]
LINK_NAMES = ["ethernet", "linux_sll", "linux_sll2", "raw", "loopback"]
A4, B4, A6, B6 = "10.0.0.1", "192.0.2.9", "2001:db8::1", "2001:db8::9"


def _ip_corpus() -> list[bytes]:
    req4 = c.echo_request(A4, B4, 1, 1, c.payload_windows(), ttl=28)
    req6 = c.echo_request(A6, B6, 1, 1, c.payload_linux(), ttl=63,
                          ext=[c.hop_by_hop(), c.dest_options()])
    plain6 = c.echo_request(A6, B6, 2, 2, c.payload_zeros(2))
    pkts = [
        req4, c.reply_to(req4, ttl=115), plain6, req6, c.reply_to(req6),
        c.echo_request(A4, B4, 3, 3, b"", options=b"\x94\x04\x00\x00"),
        c.time_exceeded("198.51.100.1", A4, req4),
        c.dest_unreachable(B6, A6, plain6),
        c.tcp_syn(A4, B4, 50000, 443, ttl=126), c.tcp_syn(A6, B6, 50001, 443),
        c.udp_packet(A4, B4, 5000, 53, c.dns_query("example.com")),
        c.vxlan(c.ethernet(req4, vlans=[7])), c.vxlan(c.ethernet(plain6), "2001:db8::a", "2001:db8::b"),
        c.gre_teb(c.ethernet(req4), key=1), c.gre(plain6), c.gre(req4, seq=3, checksum=True),
        c.erspan2(c.ethernet(req4)), c.erspan3(c.ethernet(plain6)),
        c.erspan3(c.ethernet(req4), platform=1 << 58),
        c.ip_in_ip(req4), c.ip_in_ip(plain6), c.ip_in_ip(req4, "2001:db8::a", "2001:db8::b"),
        c.ip_in_ip(c.ip_in_ip(c.gre(req4)), "2001:db8::a", "2001:db8::b"),
    ]
    pkts += c.fragment_ipv4(c.echo_request(A4, B4, 4, 4, c.payload_large(300)), 96)
    pkts += c.fragment_ipv6(c.echo_request(A6, B6, 5, 5, c.payload_large(300)), 96, ident=77)
    return pkts


IP_CORPUS = _ip_corpus()


def _framed(pkt: bytes, link: str) -> tuple[int, bytes]:
    return c.link(link, pkt)


CORPUS = [_framed(p, lk) for lk in LINK_NAMES for p in IP_CORPUS]
CORPUS += [(c.LINKTYPE_ETHERNET, c.ethernet(IP_CORPUS[0], vlans=[10, 20], stag=True))]


def _decoder():
    try:
        from producer.decode import Decoder
    except ImportError:
        from producer import Decoder
    return Decoder(sensor_id="test")


def _takes_frame_no(dec) -> bool:
    return "frame_no" in inspect.signature(dec.decode_frame).parameters


def _check_call(dec, linktype: int, data: bytes, ts: int, frame_no: int, wire_len: int | None):
    acc = dec.account
    before_rec = acc.records + acc.host_observations + acc.fragment_anomalies
    before_read = dec.account.packets_read
    if _takes_frame_no(dec):
        out = dec.decode_frame(linktype, data, ts, frame_no=frame_no, wire_len=wire_len)
    else:
        out = dec.decode_frame(linktype, data, ts, wire_len=wire_len)
    assert isinstance(out, list)
    acc = dec.account
    assert acc.packets_read == before_read + 1
    assert acc.balanced(), acc.as_dict()
    bugs = [k for k in acc.malformed if k.startswith("decoder_error")]
    assert not bugs, f"the decoder raised internally ({bugs}) on {linktype} {data.hex()}"
    made = acc.records + acc.host_observations + acc.fragment_anomalies
    assert made - before_rec == len(out), acc.as_dict()
    for rec in out:
        assert isinstance(rec, dict)
        assert rec.get("frame", frame_no) == frame_no
        assert rec["ts_ns"] == ts
        err = first_error("icmp_record.schema.json", rec)
        assert err is None, f"{err}: {rec}"
    return out


@st.composite
def mutated(draw):
    linktype, data = draw(st.sampled_from(CORPUS))
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "length", "byte", "extend"]))
        if not buf:
            break
        if kind == "flip":
            pos = draw(st.integers(0, len(buf) - 1))
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del buf[draw(st.integers(0, len(buf))):]
        elif kind == "length" and len(buf) >= 2:
            pos = draw(st.integers(0, len(buf) - 2))
            value = draw(st.sampled_from([0, 1, 7, 8, 19, 20, 39, 40, 0x7FFF, 0xFFFF])
                         | st.integers(0, 0xFFFF))
            buf[pos:pos + 2] = struct.pack("!H", value)
        elif kind == "byte":
            pos = draw(st.integers(0, len(buf) - 1))
            buf[pos] = draw(st.sampled_from([0x00, 0x0F, 0x40, 0x45, 0x4F, 0x60, 0x80, 0xFF]))
        elif kind == "extend":
            buf += draw(st.binary(max_size=64))
    wire = draw(st.sampled_from([None, None, len(buf), len(buf) + 1, len(buf) + 1500]))
    return linktype, bytes(buf), wire


@FUZZ
@given(st.sampled_from(LINKTYPES), st.binary(max_size=400),
       st.sampled_from([None, 0, 1, 60, 65535]))
def test_random_bytes_never_raise(linktype, data, wire_len):
    dec = _decoder()
    _check_call(dec, linktype, data, 1_700_000_000_000_000_000, 1, wire_len)


@FUZZ
@given(mutated())
def test_mutated_frames_never_raise(frame):
    linktype, data, wire_len = frame
    dec = _decoder()
    _check_call(dec, linktype, data, 1_700_000_000_000_000_000, 1, wire_len)


@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=25),
       st.lists(st.integers(0, 40_000_000_000), min_size=25, max_size=25))
def test_sequences_keep_the_books_balanced(frames, gaps):
    """One decoder over many frames (fragments held across calls, expiring by capture time)."""
    dec = _decoder()
    ts = 1_700_000_000_000_000_000
    for n, ((linktype, data, wire_len), gap) in enumerate(zip(frames, gaps), start=1):
        ts += gap
        _check_call(dec, linktype, data, ts, n, wire_len)
    dec.finish()
    assert dec.account.balanced(), dec.account.as_dict()
    assert dec.account.pending_fragments == 0, dec.account.as_dict()
    assert dec.account.packets_read == len(frames)


@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=25))
def test_fast_path_gives_what_the_layer_by_layer_path_gives(frames):
    """The decoder reads plain Ethernet/IPv4/ICMP frames in one unpack; with that turned off,
    every frame, damaged or not, must give the same records and the same accounting."""
    fast, layered = _decoder(), _decoder()
    layered.fast_path = False
    ts = 1_700_000_000_000_000_000
    for n, (linktype, data, wire_len) in enumerate(frames, start=1):
        assert (fast.decode_frame(linktype, data, ts + n, wire_len)
                == layered.decode_frame(linktype, data, ts + n, wire_len)), data.hex()
        assert fast.account.as_dict() == layered.account.as_dict(), data.hex()


def test_unmutated_corpus_decodes_cleanly():
    """The corpus itself is valid: nothing in it is malformed."""
    dec = _decoder()
    for n, (linktype, data) in enumerate(CORPUS, start=1):
        _check_call(dec, linktype, data, 1_700_000_000_000_000_000 + n, n, None)
    dec.finish()
    assert not dec.account.malformed, dec.account.as_dict()
    assert dec.account.balanced()
