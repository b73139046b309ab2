"""Field lists as data, and a checker: what the ECS and OCSF outputs promise, testable.

A spec maps a dotted field name to (type, required, source).  ``name[]`` descends into every
item of a list of objects (``evidences[].src_endpoint.ip``).  Types: keyword, text, ip, date
(ISO 8601 UTC), long, float, boolean, object, timestamp_ms (integer ms since the epoch), and any
of those with ``[]`` for a list of them.  A field spec'd as ``object`` is opaque: what is under
it is not checked (the ``oddping.*`` and ``unmapped.*`` extension points).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    type: str
    required: bool
    #: where the value comes from in the native alert (for the README mapping table)
    source: str


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_CHECKS = {
    "keyword": lambda v: isinstance(v, str),
    "text": lambda v: isinstance(v, str),
    "ip": lambda v: isinstance(v, str) and _is_ip(v),
    "date": lambda v: isinstance(v, str) and _ISO.match(v) is not None,
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "timestamp_ms": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
}


def _type_ok(kind: str, value: Any) -> bool:
    if kind.endswith("[]"):
        item = _CHECKS[kind[:-2]]
        return isinstance(value, list) and all(item(v) for v in value)
    return _CHECKS[kind](value)


def _flatten(
    doc: dict[str, Any], prefix: str, out: dict[str, list[Any]], opaque: set[str], lists: set[str]
) -> None:
    """Collect every leaf (and every list of objects) under its dotted name."""
    for name, value in doc.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict) and path not in opaque:
            _flatten(value, path + ".", out, opaque, lists)
            continue
        out.setdefault(path, []).append(value)
        if path in lists and isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _flatten(item, path + "[].", out, opaque, lists)


def check_fields(doc: dict[str, Any], spec: dict[str, FieldSpec]) -> list[str]:
    """Problems with a document against a field list: missing, mistyped, undocumented fields."""
    opaque = {name for name, field in spec.items() if field.type == "object"}
    # Lists of objects whose items the spec describes (``name[].child``); others are opaque.
    lists = {name.split("[].")[0] for name in spec if "[]." in name}
    lists |= {name.rsplit("[].", 1)[0] for name in spec if "[]." in name}
    seen: dict[str, list[Any]] = {}
    _flatten(doc, "", seen, opaque, lists)
    problems = []
    for name, field in spec.items():
        if name not in seen:
            # A field inside a list is required only when the list has items.
            parent = name.rsplit("[].", 1)[0] if "[]." in name else None
            if field.required and (parent is None or any(seen.get(parent, []))):
                problems.append(f"{name}: missing")
            continue
        for value in seen[name]:
            if not _type_ok(field.type, value):
                problems.append(f"{name}: expected {field.type}, got {value!r}")
    for name in seen:
        if name not in spec:
            problems.append(f"{name}: not in the documented field list")
    return problems


def markdown(spec: dict[str, FieldSpec]) -> str:
    lines = ["| field | type | required | from the native alert |", "|---|---|---|---|"]
    for name, field in spec.items():
        lines.append(
            f"| `{name}` | {field.type} | {'yes' if field.required else 'no'} | {field.source} |"
        )
    return "\n".join(lines)
