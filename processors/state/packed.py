"""Typed per-rule state that exports compactly.

A rule's scratch state (``HostState.scratch[rule_id]``) holds plain JSON data or
:class:`Packed` records: slotted dataclasses with named fields in the code, exported as a JSON
array of their fields in declaration order (no field names repeated in every host's table
value).  The export never names the class: the rule that owns the scratch turns a loaded array
back into its record with ``from_json`` when it next touches it (:meth:`Packed.of`), which is
also where an older layout is upgraded.  Fields are appended, never reordered or removed,
unless ``from_json`` converts the old layout.
"""

from __future__ import annotations

from typing import Any, TypeVar

P = TypeVar("P", bound="Packed")


class Packed:
    """Base of a rule's ``@dataclass(slots=True)`` state record."""

    __slots__ = ()

    def to_json(self) -> list[Any]:
        return [getattr(self, name) for name in self.__slots__]

    @classmethod
    def from_json(cls: type[P], row: list[Any]) -> P:
        return cls(*row)

    @classmethod
    def of(cls: type[P], value: P | list[Any]) -> P:
        """value as a record: itself, or the record a loaded (exported) array describes."""
        return value if type(value) is cls else cls.from_json(value)


def exported(value: Any) -> Any:
    """orjson's ``default`` for host state: a Packed record as its array."""
    if isinstance(value, Packed):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
