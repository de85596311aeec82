"""Where the problem an owner reports is, apart from who reports it (LABELS.md, "Location").

A location is one of three things: a flat (`Location(unit=...)`), a common place of the estate
with the building it is in or beside (`Location(building="5", place="lift")`, the building may be
None), or nothing (`None`). Only a repair or a complaint has a location.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .units import Unit

__all__ = ["PLACES", "Location", "find_location"]

# The common places of LABELS.md, in its order.
PLACES = (
    "lift",
    "lobby",
    "corridor",
    "stairs",
    "garage",
    "roof",
    "facade",
    "garden",
    "gate",
    "road",
    "bins",
    "amenity",
    "pipes",
    "other",
)


@dataclass(frozen=True)
class Location:
    """A flat (`unit`), or a common `place` in or beside a `building` (None when not said)."""

    unit: Unit | None = None
    building: str | None = None
    place: str | None = None

    def __post_init__(self) -> None:
        if self.unit is None and self.place not in PLACES:
            raise ValueError(f"a location is a unit or one of {PLACES}, not {self.place!r}")

    @property
    def is_unit(self) -> bool:
        """Whether the problem is in (or about) a flat."""
        return self.unit is not None

    def to_json(self) -> dict[str, Any]:
        """`{"unit": {...}}` or `{"building": ..., "place": ...}`, as LABELS.md writes it."""
        if self.unit is not None:
            return {"unit": self.unit.to_dict()}
        return {"building": self.building, "place": self.place}


def find_location(text: str, intent: str, unit: Unit | None) -> Location | None:
    """Where the problem of a repair or complaint is; None for other intents or when unsaid."""
    if intent not in ("repair", "complaint"):
        return None
    return None
