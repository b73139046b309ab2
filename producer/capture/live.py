"""Live capture from an interface through libpcap (pcapy-ng), with oddping's BPF prefilter."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Iterator

import pcapy

from .files import CaptureError, Frame, _combine, check_bpf
from .prefilter import prefilter_expression

READ_TIMEOUT_MS = 100  # how often the loop wakes up to notice a stop request


class LiveCapture:
    def __init__(self, interface: str, bpf: str | None = None, snaplen: int = 65535,
                 promiscuous: bool = True, buffer_mb: int = 32) -> None:
        self.interface = interface
        try:
            handle = pcapy.create(interface)
            handle.set_snaplen(snaplen)
            handle.set_promisc(promiscuous)
            handle.set_timeout(READ_TIMEOUT_MS)
            handle.set_buffer_size(buffer_mb * 1024 * 1024)
            handle.activate()
        except pcapy.PcapError as exc:
            raise CaptureError(f"cannot capture on {interface}: {exc}") from None
        self.linktype = handle.datalink()
        if bpf:
            check_bpf(bpf, self.linktype)
        expression = _combine(prefilter_expression(self.linktype), bpf)
        if expression:
            handle.setfilter(expression)
        self._handle = handle

    def frames(self, stop: threading.Event) -> Iterator[Frame | None]:
        # Non-blocking reads plus select(): with TPACKET_V3 a blocking read on a quiet link may
        # never time out, and the loop must notice a stop request.  None means "nothing yet".
        handle = self._handle
        handle.setnonblock(1)
        fd = handle.getfd()
        linktype = self.linktype
        frame_no = 0
        draining_until = None
        while True:
            if draining_until is None and stop.is_set():
                # frames already in the ring (a block not yet handed over) still count
                draining_until = time.monotonic() + 2 * READ_TIMEOUT_MS / 1000
            try:
                header, data = handle.next()
            except pcapy.PcapError as exc:
                raise CaptureError(f"capture on {self.interface} failed: {exc}") from None
            if header is None:  # nothing waiting: let the caller do its housekeeping
                if draining_until is not None and time.monotonic() >= draining_until:
                    return
                select.select([fd], [], [], READ_TIMEOUT_MS / 1000)
                yield None
                continue
            frame_no += 1
            sec, usec = header.getts()
            yield frame_no, sec * 1_000_000_000 + usec * 1000, linktype, data, header.getlen()

    def stats(self) -> tuple[int, int, int]:
        """(received, dropped by the kernel, dropped by the interface) as libpcap reports them."""
        try:
            return tuple(self._handle.stats())  # type: ignore[return-value]
        except pcapy.PcapError:
            return (0, 0, 0)
