"""Who will not hear: the owners with no chat account bound, so no private notice (a bill, an
arrears reminder, a warranty notice) reaches them; staff invite them to bind (`绑定码 3-2-501`).

`unbound_owners` reads them per estate; `write_unbound_workbook` exports them for staff to call
(`guanjia owners unbound --estate CODE --out FILE.xlsx`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from bot.core.i18n import Catalogues
from models import ChatIdentity, Estate, Owner

__all__ = [
    "EstateUnbound",
    "UnboundOwner",
    "estate_unbound",
    "natural_key",
    "unbound_owners",
    "write_unbound_workbook",
]


@dataclass(frozen=True)
class UnboundOwner:
    """An owner no chat account is bound to: their units' labels (in natural order), name and
    phone as on the register."""

    id: int
    units: tuple[str, ...]
    name: str
    phone: str


@dataclass(frozen=True)
class EstateUnbound:
    """An estate's current owners in all (not those marked moved out), and those of them no
    chat account is bound to, by unit."""

    estate: Estate
    owners: int
    unbound: list[UnboundOwner]


_DIGITS = re.compile(r"(\d+)")


@functools.lru_cache(maxsize=16384)
def natural_key(label: str) -> tuple[str | int, ...]:
    """A sort key that puts 3-2-501 before 12-1-101 (kept for the labels sorted most recently:
    a page of the demo sorts every owner's units each time it connects)."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(label))


def _order(owner: UnboundOwner) -> tuple[int, tuple[str | int, ...], str]:
    # Owners with a unit first, by their first unit; then those with none, by name.
    return (0, natural_key(owner.units[0]), owner.name) if owner.units else (1, (), owner.name)


async def unbound_owners(estate_code: str | None = None) -> list[EstateUnbound]:
    """Each estate's (or the one named's) unbound owners, by their first unit; three queries per
    estate, whatever its size."""
    estates = Estate.all() if estate_code is None else Estate.filter(code=estate_code)
    return [await estate_unbound(estate) for estate in await estates.order_by("id")]


async def estate_unbound(estate: Estate) -> EstateUnbound:
    """One estate's unbound owners, by their first unit (three queries)."""
    bound = set(
        await ChatIdentity.filter(owner__estate_id=estate.id).values_list("owner_id", flat=True)
    )
    # An owner the register marks moved out (inactive) is no one to invite.
    current = Owner.filter(estate_id=estate.id, active=True)
    owners = await current.values_list("id", "name", "phone")
    labels: dict[int, list[str]] = {}
    pairs = await current.filter(units__id__isnull=False).values_list("id", "units__label")
    for owner_id, label in pairs:
        labels.setdefault(owner_id, []).append(label)
    unbound = [
        UnboundOwner(
            owner_id, tuple(sorted(labels.get(owner_id, []), key=natural_key)), name, phone
        )
        for owner_id, name, phone in owners
        if owner_id not in bound
    ]
    unbound.sort(key=_order)
    return EstateUnbound(estate=estate, owners=len(owners), unbound=unbound)


def write_unbound_workbook(
    found: EstateUnbound, path: Path, catalogues: Catalogues, lang: str
) -> None:
    """One sheet: unit, name, phone of each unbound owner, with a filter and a frozen header
    (the console's export: what owners wrote stays text, never a formula)."""
    from bot.core.console import export_workbook

    columns = ("unit", "name", "phone")
    headers = [catalogues.text(lang, f"owners.unbound.column.{name}") for name in columns]
    separator = catalogues.text(lang, "owners.unbound.unit_sep")
    rows = [(separator.join(owner.units), owner.name, owner.phone) for owner in found.unbound]
    title = catalogues.text(lang, "owners.unbound.sheet")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(export_workbook(title, headers, rows))
