"""A directory of rotating capture files (tcpdump -G/-C, dumpcap -b): each finished file, in order.

A file is finished when a newer capture file has appeared after it (the writer rotated) or when
it has not changed for `settle_s` seconds.  The newest file, still growing, is never read early.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CaptureFile:
    path: Path
    size: int
    mtime_ns: int


class WatchedDirectory:
    def __init__(self, directory: str, pattern: str = "*", settle_s: float = 5.0) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"watch directory {directory} does not exist")
        self.pattern = pattern
        self.settle_ns = int(settle_s * 1_000_000_000)

    def capture_files(self) -> list[CaptureFile]:
        files = []
        for entry in os.scandir(self.directory):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            if not fnmatch.fnmatch(entry.name, self.pattern):
                continue
            st = entry.stat()
            files.append(CaptureFile(Path(entry.path), st.st_size, st.st_mtime_ns))
        # rotation order: by when the writer last touched them, names break ties
        return sorted(files, key=lambda f: (f.mtime_ns, f.path.name))

    def finished(self, now_ns: int) -> list[CaptureFile]:
        files = self.capture_files()
        done = files[:-1]  # every file older than the newest was rotated away from
        if files and now_ns - files[-1].mtime_ns >= self.settle_ns:
            done.append(files[-1])  # the newest has been quiet long enough
        return done
