"""oddping's broker-free detection engine: record -> per-host state -> rules -> findings -> alerts.

The same :class:`~processors.engine.Engine` runs inside ``oddping scan`` and inside the faust
worker; nothing here knows about Kafka.  The folders follow the data flow:

``state/``     per-host state (explicit, JSON-able, bounded, event time only)
``rules/``     one detection per module: metadata, tunables, handlers
``findings``   a rule hit, its dedup window, and suppressions
``alerts/``    alert building and the native, ECS and OCSF formats
``engine``     the loop that ties them together; ``scan`` runs it over a list of records
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: name -> the module that defines it, imported on first use: importing a part of processors
#: (a rule, the alerts) must not import the engine, which imports every rule
_LAZY = {
    "Engine": "processors.engine",
    "EngineStats": "processors.engine",
    "scan_records": "processors.scan",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'processors' has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
