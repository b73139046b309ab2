"""oddping's broker-free detection engine: record -> per-host state -> rules -> findings -> alerts.

The same :class:`~processors.engine.Engine` runs inside ``oddping scan`` and inside the faust
worker; nothing here knows about Kafka.  The folders follow the data flow:

``state/``     per-host state (explicit, JSON-able, bounded, event time only)
``rules/``     one detection per module: metadata, tunables, handlers
``findings``   a rule hit, its dedup window, and suppressions
``alerts/``    alert building and the native, ECS and OCSF formats
``engine``     the loop that ties them together; ``scan`` runs it over a list of records
"""

from processors.engine import Engine, EngineStats
from processors.scan import scan_records

__all__ = ["Engine", "EngineStats", "scan_records"]
