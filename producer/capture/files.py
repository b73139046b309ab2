"""Capture files: pcap (µs and ns, either byte order), pcapng (many interfaces), gzip, stdin.

Two readers, picked per file:
- libpcap (pcapy-ng) for plain files whose timestamps libpcap keeps exactly (µs pcap, pcapng with
  one link type at µs resolution).  A BPF program drops frames that cannot hold ICMP or a TCP SYN
  inside libpcap, so Python only sees the few that matter.  A second pass counts every frame in
  C, so the frames BPF dropped are still accounted for.
- a streaming Python reader for everything else: gzip, stdin, nanosecond pcap, pcapng mixing link
  types or finer resolutions.  It hands every frame to the decoder, which sorts them itself.

Both yield frames as (frame_no, ts_ns, linktype, data, wire_len) and stop at damage with
`error` set to one line, after yielding everything before it.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import pcapy

from .prefilter import dlt_for, prefilter_expression

Frame = tuple[int, int, int, bytes, int]

PCAP_MAGIC_MICRO = 0xA1B2C3D4
PCAP_MAGIC_NANO = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
GZIP_MAGIC = b"\x1f\x8b"
MAX_CAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN; larger record lengths mean a corrupt file
MAX_BLOCK_LEN = 16 * 1024 * 1024

PCAPNG_IDB = 0x00000001
PCAPNG_PB = 0x00000002  # obsolete Packet Block
PCAPNG_SPB = 0x00000003
PCAPNG_EPB = 0x00000006
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


class CaptureError(Exception):
    """The capture cannot be read (further); the message is one line for the user."""


class CaptureReader:
    """Iterate frames of one capture; afterwards `prefiltered` and `error` tell the rest."""

    def __init__(self, path: str, bpf: str | None = None, prefilter: bool = True) -> None:
        self.path = path
        self.bpf = bpf
        self.prefilter = prefilter
        self.prefiltered = 0  # frames libpcap's BPF dropped without handing them to Python
        self.filtered_out = 0  # frames the user's --bpf expression rejected (Python reader)
        self.error: str | None = None
        self.backend = "python"

    def __iter__(self) -> Iterator[Frame]:
        try:
            stream, head, plain = _open_stream(self.path)
        except CaptureError as exc:
            self.error = str(exc)
            return
        try:
            if _libpcap_can_read(stream, head, plain):
                stream.close()
                self.backend = "libpcap"
                yield from self._libpcap_frames()
            else:
                yield from self._python_frames(stream, head)
        except CaptureError as exc:
            self.error = str(exc)
        finally:
            stream.close()

    # -- libpcap ---------------------------------------------------------------------------------

    def _libpcap_frames(self) -> Iterator[Frame]:
        try:
            handle = pcapy.open_offline(self.path)
        except pcapy.PcapError as exc:
            raise CaptureError(f"{self.path}: {exc}") from None
        linktype = handle.datalink()
        if self.bpf:
            check_bpf(self.bpf, linktype)
        expression = _combine(prefilter_expression(linktype) if self.prefilter else None, self.bpf)
        if expression:
            handle.setfilter(expression)
        passed = 0
        try:
            while True:
                try:
                    header, data = handle.next()
                except pcapy.PcapError as exc:
                    raise CaptureError(f"{self.path}: {exc}") from None
                if header is None:
                    break
                passed += 1
                sec, usec = header.getts()
                # frame numbers of frames after a BPF-dropped one are unknown here; records do
                # not carry them, so this is only a count
                yield (passed, sec * 1_000_000_000 + usec * 1000, linktype, data, header.getlen())
        finally:
            if expression:
                skipped = _count_frames(self.path) - passed
                if self.bpf:
                    self.filtered_out = skipped
                else:
                    self.prefiltered = skipped

    # -- Python reader ---------------------------------------------------------------------------

    def _python_frames(self, stream: BinaryIO, head: bytes) -> Iterator[Frame]:
        magic_le = struct.unpack("<I", head[:4])[0]
        if magic_le == PCAPNG_SHB:
            frames = _pcapng_frames(stream, head, self.path)
        else:
            frames = _pcap_frames(stream, head, self.path)
        user_filter = _UserFilter(self.bpf) if self.bpf else None
        for frame in frames:
            if user_filter is not None and not user_filter.accepts(frame[2], frame[3]):
                self.filtered_out += 1
                continue
            yield frame


def _combine(ours: str | None, user: str | None) -> str | None:
    if ours and user:
        return f"({user}) and ({ours})"
    return ours or user


def check_bpf(expression: str, linktype: int) -> pcapy.BPFProgram:
    """Compile the user's filter on its own, so a mistake is reported in the user's words."""
    try:
        return pcapy.compile(dlt_for(linktype), MAX_CAPLEN, expression, 1, 0xFFFFFFFF)
    except pcapy.PcapError as exc:
        raise CaptureError(f"bad BPF filter {expression!r}: {exc}") from None


class _UserFilter:
    """The user's --bpf expression, compiled per link type with libpcap, run on each frame."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._programs: dict[int, pcapy.BPFProgram] = {}

    def accepts(self, linktype: int, data: bytes) -> bool:
        program = self._programs.get(linktype)
        if program is None:
            program = self._programs[linktype] = check_bpf(self.expression, linktype)
        return program.filter(data) != 0


def _count_frames(path: str) -> int:
    """Every frame of a file, counted by libpcap in C.  It costs a second read of the file
    (run after the filtered read: run beside it, both slow down; see bench/), and it is what
    lets BPF-dropped frames be accounted for instead of silently vanishing."""
    try:
        handle = pcapy.open_offline(path)
    except pcapy.PcapError:
        return 0
    try:
        admitted, dropped = handle.loop_to_buffer(-1, bytearray(4096), admit_mask=0)[:2]
    except pcapy.PcapError:  # damaged: what libpcap read before the damage
        admitted, dropped = handle.filtered_stats()[:2]
    return admitted + dropped


def _open_stream(path: str) -> tuple[BinaryIO, bytes, bool]:
    """Open a file or stdin ('-'), unwrap gzip; return the stream positioned after its first 24
    bytes, those bytes, and whether it is a plain (seekable, uncompressed) file."""
    try:
        raw: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise CaptureError(f"{path}: {exc.strerror or exc}") from None
    stream: BinaryIO = raw if path != "-" else io.BufferedReader(raw, 1 << 20)  # type: ignore[arg-type]
    plain = path != "-"
    if stream.peek(2)[:2] == GZIP_MAGIC:  # type: ignore[attr-defined]
        stream = _Gunzip(stream, path)  # type: ignore[assignment]
        plain = False
    head = stream.read(24)
    if len(head) < 4:
        raise CaptureError(f"{path}: empty or too short to be a capture file ({len(head)} bytes)")
    if struct.unpack("<I", head[:4])[0] not in _MAGICS and struct.unpack(">I", head[:4])[0] not in _MAGICS:
        raise CaptureError(f"{path}: not a pcap or pcapng file (magic 0x{head[:4].hex()})")
    return stream, head, plain


_MAGICS = (PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO, PCAPNG_SHB)


def _libpcap_can_read(stream: BinaryIO, head: bytes, plain: bool) -> bool:
    """True for plain files whose timestamps libpcap keeps exactly and that it reads whole."""
    if not plain or len(head) < 24:
        return False
    if struct.unpack("<I", head[:4])[0] == PCAPNG_SHB:
        return _pcapng_single_link_microseconds(stream, head)
    return PCAP_MAGIC_MICRO in (struct.unpack("<I", head[:4])[0], struct.unpack(">I", head[:4])[0])


def _pcapng_single_link_microseconds(stream: BinaryIO, head: bytes) -> bool:
    """Look at the interface blocks before the first packet: one link type, µs resolution."""
    try:
        endian = _pcapng_endian(head)
        linktypes, resolutions = set(), set()
        stream.seek(0)
        for block_type, body in _pcapng_blocks(stream, endian, "probe"):
            if block_type == PCAPNG_IDB:
                linktype, _snap, options = _idb_fields(body, endian)
                linktypes.add(linktype)
                resolutions.add(options.get(OPT_IF_TSRESOL, b"\x06")[:1])
            elif block_type in (PCAPNG_EPB, PCAPNG_SPB, PCAPNG_PB):
                break
        return len(linktypes) == 1 and resolutions == {b"\x06"}
    except (CaptureError, struct.error, OSError):
        return False
    finally:
        stream.seek(24)  # the Python reader, if chosen, goes on after the sniffed header


# -- pcap ----------------------------------------------------------------------------------------

def _pcap_frames(stream: BinaryIO, head: bytes, path: str) -> Iterator[Frame]:
    if len(head) < 24:
        raise CaptureError(f"{path}: truncated pcap file header ({len(head)} of 24 bytes)")
    if struct.unpack("<I", head[:4])[0] in (PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO):
        endian = "<"
    else:
        endian = ">"
    magic, _major, _minor, _zone, _sigfigs, _snaplen, linktype = struct.unpack(endian + "IHHiIII", head)
    linktype &= 0x0FFFFFFF  # the upper bits carry FCS length flags (pcap-linktype.7)
    to_ns = 1 if magic == PCAP_MAGIC_NANO else 1000
    record = struct.Struct(endian + "IIII")
    read = stream.read
    frame_no = 0
    while True:
        rec_header = read(16)
        if not rec_header:
            return
        if len(rec_header) < 16:
            raise CaptureError(f"{path}: truncated: file ends inside the header of frame {frame_no + 1}")
        sec, frac, caplen, wire_len = record.unpack(rec_header)
        if caplen > MAX_CAPLEN:
            raise CaptureError(
                f"{path}: frame {frame_no + 1} claims {caplen} captured bytes, more than the "
                f"{MAX_CAPLEN} maximum: the file is corrupt"
            )
        data = read(caplen)
        if len(data) < caplen:
            raise CaptureError(f"{path}: truncated: file ends inside frame {frame_no + 1}")
        frame_no += 1
        yield frame_no, sec * 1_000_000_000 + frac * to_ns, linktype, data, wire_len


# -- pcapng --------------------------------------------------------------------------------------

def _pcapng_endian(head: bytes) -> str:
    if len(head) < 12:
        raise CaptureError("truncated pcapng section header")
    bom = head[8:12]
    if bom == PCAPNG_BYTE_ORDER_MAGIC.to_bytes(4, "little"):
        return "<"
    if bom == PCAPNG_BYTE_ORDER_MAGIC.to_bytes(4, "big"):
        return ">"
    raise CaptureError(f"bad pcapng byte-order magic 0x{bom.hex()}")


def _pcapng_blocks(stream: BinaryIO, endian: str, path: str) -> Iterator[tuple[int, bytes]]:
    read = stream.read
    while True:
        block_header = read(8)
        if not block_header:
            return
        if len(block_header) < 8:
            raise CaptureError(f"{path}: truncated: file ends inside a pcapng block header")
        block_type = struct.unpack(endian + "I", block_header[:4])[0]
        if block_type == PCAPNG_SHB:  # a new section may switch byte order
            bom = read(4)
            endian = _pcapng_endian(block_header + bom)
            block_len = struct.unpack(endian + "I", block_header[4:8])[0]
            if block_len < 28 or block_len % 4 or block_len > MAX_BLOCK_LEN:
                raise CaptureError(f"{path}: corrupt pcapng section header length {block_len}")
            rest = read(block_len - 12)
            if len(rest) < block_len - 12:
                raise CaptureError(f"{path}: truncated: file ends inside a pcapng block")
            yield PCAPNG_SHB, bom + rest[:-4]
            continue
        block_len = struct.unpack(endian + "I", block_header[4:8])[0]
        if block_len < 12 or block_len % 4 or block_len > MAX_BLOCK_LEN:
            raise CaptureError(f"{path}: corrupt pcapng block length {block_len}")
        body = read(block_len - 8)
        if len(body) < block_len - 8:
            raise CaptureError(f"{path}: truncated: file ends inside a pcapng block")
        yield block_type, body[:-4]


def _idb_fields(body: bytes, endian: str) -> tuple[int, int, dict[int, bytes]]:
    linktype, _reserved, snaplen = struct.unpack(endian + "HHI", body[:8])
    return linktype, snaplen, _options(body[8:], endian)


def _options(raw: bytes, endian: str) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(raw):
        code, length = struct.unpack(endian + "HH", raw[pos:pos + 4])
        if code == 0:
            break
        options[code] = raw[pos + 4:pos + 4 + length]
        pos += 4 + length + (-length % 4)
    return options


def _ticks_to_ns(tsresol: bytes) -> tuple[int, int]:
    """(numerator, denominator) turning timestamp ticks into nanoseconds."""
    value = tsresol[0]
    if value & 0x80:  # negative power of two
        return 1_000_000_000, 1 << (value & 0x7F)
    exponent = value
    if exponent <= 9:
        return 10 ** (9 - exponent), 1
    return 1, 10 ** (exponent - 9)


def _pcapng_frames(stream: BinaryIO, head: bytes, path: str) -> Iterator[Frame]:
    endian = _pcapng_endian(head)
    stream = _Prepend(head, stream)
    interfaces: list[tuple[int, int, int, int]] = []  # linktype, numerator, denominator, offset s
    frame_no = 0
    epb = struct.Struct(endian + "IIIII")
    for block_type, body in _pcapng_blocks(stream, endian, path):  # type: ignore[arg-type]
        if block_type == PCAPNG_SHB:
            endian = _pcapng_endian(b"\0" * 8 + body[:4])
            epb = struct.Struct(endian + "IIIII")
            interfaces = []  # interface ids restart in every section
        elif block_type == PCAPNG_IDB:
            linktype, _snap, options = _idb_fields(body, endian)
            numerator, denominator = _ticks_to_ns(options.get(OPT_IF_TSRESOL, b"\x06"))
            offset_s = struct.unpack(endian + "q", options[OPT_IF_TSOFFSET])[0] if len(
                options.get(OPT_IF_TSOFFSET, b"")) == 8 else 0
            interfaces.append((linktype, numerator, denominator, offset_s))
        elif block_type == PCAPNG_EPB:
            if len(body) < 20:
                raise CaptureError(f"{path}: corrupt enhanced packet block (too short)")
            interface_id, ts_high, ts_low, caplen, wire_len = epb.unpack_from(body)
            if interface_id >= len(interfaces):
                raise CaptureError(f"{path}: packet for undeclared interface {interface_id}")
            if caplen > len(body) - 20:
                raise CaptureError(f"{path}: frame {frame_no + 1} is longer than its block")
            linktype, numerator, denominator, offset_s = interfaces[interface_id]
            ticks = (ts_high << 32) | ts_low
            frame_no += 1
            yield (frame_no, ticks * numerator // denominator + offset_s * 1_000_000_000,
                   linktype, body[20:20 + caplen], wire_len)
        elif block_type == PCAPNG_SPB:
            if not interfaces:
                raise CaptureError(f"{path}: simple packet block before any interface")
            wire_len = struct.unpack(endian + "I", body[:4])[0]
            frame_no += 1
            # simple packet blocks carry no timestamp
            yield frame_no, 0, interfaces[0][0], body[4:4 + wire_len], wire_len
        elif block_type == PCAPNG_PB:
            interface_id, _drops, ts_high, ts_low, caplen, wire_len = struct.unpack(
                endian + "HHIIII", body[:20])
            if interface_id >= len(interfaces):
                raise CaptureError(f"{path}: packet for undeclared interface {interface_id}")
            linktype, numerator, denominator, offset_s = interfaces[interface_id]
            frame_no += 1
            yield (frame_no, ((ts_high << 32) | ts_low) * numerator // denominator
                   + offset_s * 1_000_000_000, linktype, body[20:20 + caplen], wire_len)


class _Gunzip:
    """gzip, decompressed as it is read, that hands out every byte it could decompress before
    reporting a cut or corrupt stream (gzip.GzipFile buffers ahead and loses that tail)."""

    CHUNK = 1 << 16

    def __init__(self, raw: BinaryIO, path: str) -> None:
        self._raw = raw
        self._path = path
        self._inflate = zlib.decompressobj(wbits=31)
        self._buffer = bytearray()
        self._damage: str | None = None
        self._eof = False

    def _fill(self, wanted: int) -> None:
        while len(self._buffer) < wanted and not self._eof:
            chunk = self._raw.read(self.CHUNK)
            try:
                if not chunk:
                    self._eof = True
                    if not self._inflate.eof:
                        self._damage = "gzip stream is cut short"
                    return
                self._buffer += self._inflate.decompress(chunk)
                while self._inflate.eof and self._inflate.unused_data:  # concatenated members
                    rest = self._inflate.unused_data
                    self._inflate = zlib.decompressobj(wbits=31)
                    self._buffer += self._inflate.decompress(rest)
            except zlib.error as exc:
                self._eof = True
                self._damage = f"gzip stream is corrupt ({exc})"

    def read(self, n: int) -> bytes:
        self._fill(n)
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        if len(out) < n and self._damage:
            # the reader sees a short read and says where; the gzip reason goes with it
            raise CaptureError(f"{self._path}: {self._damage}, after "
                               f"{len(out)} bytes of a further {n} expected")
        return out

    def close(self) -> None:
        self._raw.close()


class _Prepend:
    """A stream that first returns bytes already read (the sniffed header), then the rest."""

    def __init__(self, first: bytes, rest: BinaryIO) -> None:
        self._first = first
        self._rest = rest

    def read(self, n: int) -> bytes:
        if self._first:
            out, self._first = self._first[:n], self._first[n:]
            if len(out) < n:
                out += self._rest.read(n - len(out))
            return out
        return self._rest.read(n)
