"""Process-wide tuning for the commands that run a hot loop for long (process, scan, produce).

CPython's cyclic garbage collector runs a pass every 700 new container objects and now and then
walks every object the process holds.  A stream worker holds the state of every tracked host
(hundreds of thousands of small dicts, lists and tuples) besides faust's, aiokafka's and
pydantic's own; the passes walked all of it again and again, for garbage that reference counting
frees anyway (records, alerts and exported states make no cycles).  Measured on the stream
bench's busy capture: one worker 40-43k -> 58k records/s (bench/README.md).
"""

from __future__ import annotations

import gc

#: (young, middle, old): a young pass every 50,000 new containers instead of 700
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Call once set-up is done: what exists now (modules, the app) is never walked again, and
    the collector runs less often.  Cycles are still collected."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
