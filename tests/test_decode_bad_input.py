"""Damaged input through the command line, as a user meets it.

A corrupt capture (cut short, wrong magic, garbage, absurd record lengths) prints every record
before the damage, then one line naming the problem on stderr, and exits 2 - no traceback.
Damaged packets inside an intact capture (snaplen cuts, bogus IHL, impossible lengths, ICMP
shorter than its header) are counted as malformed by reason; the rest of the file is decoded
and the exit status is 0.
"""

from __future__ import annotations

import inspect
import json
import random
import struct
from dataclasses import replace

import pytest

from samples import craft as c

T0 = 1_678_784_400_000_000_000
A4, B4 = "10.20.0.15", "13.107.4.52"
A6, B6 = "2001:db8:10::15", "2001:db8:20::52"


def good_frames(n: int = 6) -> list[c.Frame]:
    out = []
    for i in range(n):
        src, dst = (A4, B4) if i % 2 == 0 else (A6, B6)
        pkt = c.echo_request(src, dst, 1, i, c.payload_windows(), ttl=126)
        out.append(c.Frame(c.ethernet(pkt), T0 + i * 1_000_000_000))
    return out


def records_of(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def frame_numbers(records: list[dict], step: int = 1_000_000_000) -> list[int]:
    """Frame numbers of records, from their timestamps (frame n is written at T0 + (n-1)*step)."""
    out = []
    for r in records:
        n = (r["ts_ns"] - T0) // step + 1
        assert r.get("frame", n) == n, "the record's frame number disagrees with its timestamp"
        out.append(n)
    return out


def check_clean_failure(proc, frames_before: list[int] | None, step: int = 1_000_000_000):
    """Exit 2, the records before the damage on stdout, one short error line, no traceback."""
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert proc.returncode == 2, (proc.returncode, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 3, f"expected one error line (+ the summary), got:\n{err}"
    assert all(len(ln) < 400 for ln in lines), err
    got = frame_numbers(records_of(proc.stdout), step)
    if frames_before is not None:
        assert got == frames_before, err
    return got, err


# ---------------------------------------------------------------------------------------------
# corrupt captures: exit 2


@pytest.mark.parametrize("nano", [False, True], ids=["pcap-us", "pcap-ns"])
def test_pcap_cut_mid_packet(tmp_path, run_oddping, nano):
    data = c.pcap_bytes(good_frames(), nano=nano)
    record_len = 16 + len(good_frames()[0].data)
    cut = 24 + 3 * record_len + 16 + 10  # ten bytes into the fourth frame's data
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:cut])
    check_clean_failure(run_oddping("decode", path), [1, 2, 3])


@pytest.mark.parametrize("nano", [False, True], ids=["pcap-us", "pcap-ns"])
def test_pcap_cut_inside_record_header(tmp_path, run_oddping, nano):
    frames = good_frames()
    data = c.pcap_bytes(frames, nano=nano)
    cut = 24 + 16 + len(frames[0].data) + 16 + len(frames[1].data) + 7
    path = tmp_path / "cut-header.pcap"
    path.write_bytes(data[:cut])
    check_clean_failure(run_oddping("decode", path), [1, 2])


def test_pcapng_cut_mid_block(tmp_path, run_oddping):
    interfaces = [c.Interface(c.LINKTYPE_ETHERNET, 6), c.Interface(c.LINKTYPE_RAW, 9)]
    frames = [replace(f, iface=0) for f in good_frames(4)]
    frames.append(c.Frame(c.raw_ip(c.echo_request(A4, B4, 2, 9, b"x" * 40)), T0 + 9, c.LINKTYPE_RAW,
                          iface=1))
    data = c.pcapng_bytes(frames, interfaces)
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:-30])
    check_clean_failure(run_oddping("decode", path), [1, 2, 3, 4])


def _many_frames(n: int, size: int) -> list[c.Frame]:
    return [c.Frame(c.ethernet(c.echo_request(A4, B4, 1, i & 0xFFFF, c.payload_large(size))),
                    T0 + i * 1_000_000) for i in range(n)]


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("n,size", [(40, 32), (3000, 1000)], ids=["small", "3MB"])
def test_gzip_cut_short(tmp_path, run_oddping, fmt, n, size):
    """A cut gzip stream: the frames decompressed before the cut are decoded, then exit 2."""
    frames = _many_frames(n, size)
    raw = c.pcap_bytes(frames) if fmt == "pcap" else c.pcapng_bytes(frames)
    gz = c.gzip_bytes(raw)
    path = tmp_path / f"cut.{fmt}.gz"
    path.write_bytes(gz[: len(gz) * 2 // 3])
    got, _ = check_clean_failure(run_oddping("decode", path), None, step=1_000_000)
    assert got == list(range(1, len(got) + 1)), "records must be the frames before the damage"
    assert n // 3 < len(got) < n, f"{len(got)} of {n} frames decoded before the cut"


def test_wrong_magic(tmp_path, run_oddping):
    data = bytearray(c.pcap_bytes(good_frames()))
    data[0:4] = b"\xde\xad\xbe\xef"
    path = tmp_path / "magic.pcap"
    path.write_bytes(bytes(data))
    check_clean_failure(run_oddping("decode", path), [])


@pytest.mark.parametrize("size", [0, 3, 24, 5000])
def test_garbage(tmp_path, run_oddping, size):
    path = tmp_path / f"garbage{size}.bin"
    path.write_bytes(random.Random(size).randbytes(size))
    check_clean_failure(run_oddping("decode", path), [])


def test_garbage_on_stdin(run_oddping):
    check_clean_failure(run_oddping("decode", "-", input=b"this is not a capture\n" * 20), [])


def test_text_file_named_pcap(tmp_path, run_oddping):
    path = tmp_path / "notes.pcap"
    path.write_text("frame 1: 10.20.0.15 -> 13.107.4.52 ICMP echo\n")
    check_clean_failure(run_oddping("decode", path), [])


@pytest.mark.parametrize("nano", [False, True], ids=["pcap-us", "pcap-ns"])
@pytest.mark.parametrize("caplen", [0x7FFFFFF0, 0xFFFFFFFF, 262145 * 4])
def test_absurd_capture_length(tmp_path, run_oddping, nano, caplen):
    frames = good_frames(5)
    body = b"".join(c.pcap_record(f, nano) for f in frames[:3])
    body += c.pcap_record(frames[3], nano, caplen=caplen) + c.pcap_record(frames[4], nano)
    path = tmp_path / "absurd.pcap"
    path.write_bytes(c.pcap_header(c.LINKTYPE_ETHERNET, nano) + body)
    check_clean_failure(run_oddping("decode", path, timeout=60), [1, 2, 3])


def test_absurd_pcapng_block_length(tmp_path, run_oddping):
    frames = good_frames(4)
    data = bytearray(c.pcapng_bytes(frames[:3]))
    tail = c.pcapng_bytes(frames[3:])
    shb_len = struct.unpack("<I", tail[4:8])[0]
    idb_len = struct.unpack("<I", tail[shb_len + 4:shb_len + 8])[0]
    epb = bytearray(tail[shb_len + idb_len:])
    epb[4:8] = struct.pack("<I", 0xFFFFFFF0)
    path = tmp_path / "absurd.pcapng"
    path.write_bytes(bytes(data + epb))
    check_clean_failure(run_oddping("decode", path, timeout=60), [1, 2, 3])


def test_corrupt_file_does_not_stop_the_next(tmp_path, run_oddping):
    """Several files: the damaged one ends with its error, the good one is still decoded."""
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(c.pcap_bytes(good_frames())[:100])
    good = tmp_path / "good.pcap"
    c.write_pcap(good, good_frames(3), nano=True)
    proc = run_oddping("decode", bad, good)
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err
    assert proc.returncode == 2, err
    got = frame_numbers(records_of(proc.stdout))
    assert got[-3:] == [1, 2, 3], (got, err)


# ---------------------------------------------------------------------------------------------
# damaged packets inside an intact capture: exit 0, malformed counted by reason


def _damaged_frames() -> tuple[list[c.Frame], list[int], int]:
    """(frames, frames that must give records, how many are malformed)."""
    win = c.payload_windows()
    frames: list[c.Frame] = []
    ok: list[int] = []

    def add(data: bytes, good: bool, wire_len: int | None = None):
        frames.append(c.Frame(data, T0 + len(frames) * 1_000_000, wire_len=wire_len))
        if good:
            ok.append(len(frames))

    add(c.ethernet(c.echo_request(A4, B4, 1, 1, win)), True)
    full = c.ethernet(c.echo_request(A4, B4, 1, 2, win))
    add(full[:14 + 20 + 8 + 4], True, wire_len=len(full))  # snaplen cut in the payload
    add(full[:14 + 12], False, wire_len=len(full))  # snaplen cut in the IP header
    add(c.ethernet(c.echo_request(A4, B4, 1, 3, win, ihl=3)), False)  # IHL below 5
    add(c.ethernet(c.echo_request(A4, B4, 1, 4, b"", ihl=15), pad=False), False)  # IHL past the end
    add(c.ethernet(c.echo_request(A4, B4, 1, 5, win, total_len=10)), False)  # shorter than IHL
    add(c.ethernet(c.echo_request(A4, B4, 1, 6, win, total_len=1400)), False)  # beyond the frame
    add(c.ethernet(c.ipv4_packet(A4, B4, c.PROTO_ICMP, b"\x08\x00\xf7\xff")), False)  # 4-byte ICMP
    add(c.ethernet(c.echo_request(A6, B6, 1, 7, win, payload_len=900)), False)  # IPv6 plen too big
    add(c.ethernet(c.ipv6_packet(A6, B6, c.PROTO_ICMPV6, b"\x80\x00\x00")), False)  # 3-byte ICMPv6
    add(c.ethernet(c.echo_request(A6, B6, 1, 8, win, ext=[c.hop_by_hop()]))[:14 + 40 + 1],
        False, wire_len=200)  # cut inside an extension header
    add(c.ethernet(c.echo_request(A4, B4, 1, 9, win, checksum=0x1234)), True)  # bad checksum: kept
    add(c.ethernet(c.echo_request(A4, B4, 1, 10, win)), True)
    add(c.ethernet(c.echo_request(A6, B6, 1, 11, win)), True)
    return frames, ok, len(frames) - len(ok)


@pytest.mark.parametrize("nano", [False, True], ids=["pcap-us", "pcap-ns"])
def test_damaged_packets_are_counted_and_skipped(tmp_path, run_oddping, nano):
    from producer import decode_file

    frames, ok, n_bad = _damaged_frames()
    path = tmp_path / "damaged.pcap"
    c.write_pcap(path, frames, nano=nano)
    proc = run_oddping("decode", path, "--sensor-id", "test")
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert proc.returncode == 0, err
    records = records_of(proc.stdout)
    assert frame_numbers(records, 1_000_000) == ok, err
    assert "malformed" in err, err

    by_frame = dict(zip(frame_numbers(records, 1_000_000), records))
    assert by_frame[2]["icmp_checksum_ok"] is None  # snapped: cannot verify
    assert by_frame[2]["payload_len"] == 32  # per the IP length, not the captured bytes
    assert by_frame[2]["payload_captured_len"] == 4  # what the snap length left of it
    assert by_frame[1]["payload_captured_len"] == by_frame[1]["payload_len"]
    assert by_frame[ok[-3]]["icmp_checksum_ok"] is False
    assert by_frame[1]["icmp_checksum_ok"] is True

    result = decode_file(str(path))
    assert result.error is None
    acc = result.account
    assert acc.balanced(), acc.as_dict()
    assert acc.packets_read == len(frames)
    assert sum(acc.malformed.values()) == n_bad, acc.as_dict()
    assert len(acc.malformed) >= 5, f"reasons should tell the damages apart: {acc.as_dict()}"
    assert not any(k.startswith("decoder_error") for k in acc.malformed), acc.as_dict()


def test_each_damage_has_its_own_reason():
    """Frame by frame: every damaged packet is malformed (never a record, never an exception)."""
    try:
        from producer.decode import Decoder
    except ImportError:
        from producer import Decoder

    frames, ok, _ = _damaged_frames()
    reasons = {}
    for n, f in enumerate(frames, start=1):
        dec = Decoder(sensor_id="test")
        kw = {"frame_no": n} if "frame_no" in inspect.signature(dec.decode_frame).parameters else {}
        out = dec.decode_frame(c.LINKTYPE_ETHERNET, f.data, f.ts_ns, wire_len=f.wire_len, **kw)
        assert dec.account.balanced()
        if n in ok:
            assert len(out) == 1, (n, dec.account.as_dict())
        else:
            assert out == [] and sum(dec.account.malformed.values()) == 1, (n, dec.account.as_dict())
            reasons[n] = next(iter(dec.account.malformed))
    assert not [r for r in reasons.values() if r.startswith("decoder_error")], reasons


@pytest.mark.parametrize("nano", [False, True], ids=["pcap-us", "pcap-ns"])
def test_bad_bpf_expression(tmp_path, run_oddping, nano):
    """A typo in --bpf is one short line naming the user's expression, not a traceback."""
    path = tmp_path / "ok.pcap"
    c.write_pcap(path, good_frames(2), nano=nano)
    proc = run_oddping("decode", path, "--bpf", "icmp and bogus(((")
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert proc.returncode != 0, err
    line = next((ln for ln in err.splitlines() if "bogus(((" in ln), None)
    assert line is not None, err
    assert len(line) < 400, f"the error should show the user's expression only:\n{line}"
