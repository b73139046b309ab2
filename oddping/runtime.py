"""Process-wide tuning for the commands that hold a lot of detection state (process, scan).

CPython's cyclic garbage collector runs a pass every 700 new container objects and, now and
then, walks every object the process holds.  The engine keeps the state of every tracked host
(many small dicts, lists and tuples), a worker also faust's, aiokafka's and pydantic's own, and
the passes walked it again and again for garbage that reference counting frees anyway (records,
alerts and exported states make no cycles).  Measured on the stream bench's busy capture (3,000
hosts, 291,603 records, three runs each way): one worker ~5 % faster, `oddping scan` ~5 %.
The decoder holds little, so `decode` and `produce` gain nothing and are left alone.
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
