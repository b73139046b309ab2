"""Per-host state: what the engine remembers about each echo initiator (see host.py)."""

from processors.state.host import HostState, SeenRequest, TracerouteMark, TtlProfile
from processors.state.track import ANNOUNCES_HOP_DISTANCE, TRACKERS

__all__ = [
    "ANNOUNCES_HOP_DISTANCE",
    "TRACKERS",
    "HostState",
    "SeenRequest",
    "TracerouteMark",
    "TtlProfile",
]
