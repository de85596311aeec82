"""Updating an estate from a register it was imported from (`guanjia import FILE --estate E
--update`): the same workbook or CSV folder, read as `bot.core.estate_import` reads it, merged
into what the store holds instead of added to it.

- An owner row is the owner already in the store with the same name who owns one of the row's
  units (or has the row's phone): a new phone replaces theirs (an empty one keeps it), units the
  row adds are linked to them, units it no longer names are unlinked (an owner who moved within
  the estate, found by their phone, moves with their tickets and chat accounts: nothing of their
  history goes), and an owner marked inactive is active again. Any other row is a
  new owner. When the file has an owners sheet, an active owner of the estate no row matched has
  left the register (moved out, sold): they are marked inactive, never deleted, so their tickets
  and bills stay and they are sent no bills or notices (`scheduler.jobs`).
- Units are reused by label; a floor area or warranty date the file gives for one is set.
- A bill row is the stored bill with the same number, when the file has a number column and
  the row a number, else the one of the same unit, period and item. The same bill again changes
  nothing; a different amount, due date or payment time changes an unpaid bill, and is reported,
  not changed, for a paid one. Other rows are new bills.
- Staff, FAQ entries and shifts the store has already are left as they are; new ones are added.
  The calendar sheets replace the estate's, as on a first import.

All or nothing, as a first import: the file's problems (and a new row's duplicates) refuse it
whole. With ``dry_run`` it is planned and reported and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from bot.core.estate_import import (
    DEFAULT_LIMITS,
    BillRow,
    EstateData,
    ImportFailed,
    ImportLimits,
    ImportReport,
    OwnerRow,
    RowError,
    UnitRow,
    _check,
    _error,
    _Existing,
    _read,
    _sorted,
    render_warnings,
    write_estate,
)
from bot.core.i18n import Catalogues
from models import Bill, Estate, Owner, Unit

__all__ = ["BillChange", "OwnerChange", "UpdateReport", "render_update", "update_estate"]

# The rows of each kind a summary lists before "…".
SHOWN_ROWS = 5


@dataclass(frozen=True)
class OwnerChange:
    """An owner the update changes: their phone (before and after), units added and removed (they
    moved), made active; `units` are theirs after the update."""

    owner_id: int
    name: str
    units: tuple[str, ...]
    phone_before: str
    phone: str
    units_added: tuple[str, ...] = ()
    reactivated: bool = False
    units_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class BillChange:
    """A stored bill whose row differs: changed if unpaid, else only reported."""

    bill_id: int
    unit: str
    period: str
    item: str
    amount_before: int
    amount: int
    due_date: date
    paid_at: datetime | None
    paid: bool


@dataclass
class UpdateReport:
    """What an update changed (or, dry, would change)."""

    estate_code: str
    dry_run: bool
    new_units: list[str] = field(default_factory=list)
    units_changed: list[str] = field(default_factory=list)
    new_owners: list[OwnerRow] = field(default_factory=list)
    owners_changed: list[OwnerChange] = field(default_factory=list)
    owners_gone: list[tuple[int, str, tuple[str, ...]]] = field(default_factory=list)
    owners_unchanged: int = 0
    new_bills: list[BillRow] = field(default_factory=list)
    bills_changed: list[BillChange] = field(default_factory=list)
    bills_unchanged: int = 0
    written: ImportReport | None = None
    # What was read past: unknown columns and sheets.
    warnings: list[RowError] = field(default_factory=list)

    @property
    def paid_bills_differing(self) -> list[BillChange]:
        return [change for change in self.bills_changed if change.paid]


@dataclass
class _StoredOwner:
    id: int
    name: str
    phone: str
    active: bool
    units: set[str]


async def _stored_owners(estate: Estate) -> list[_StoredOwner]:
    owners: dict[int, _StoredOwner] = {}
    for owner_id, name, phone, active, label in await Owner.filter(
        estate_id=estate.id
    ).values_list("id", "name", "phone", "active", "units__label"):
        owner = owners.setdefault(owner_id, _StoredOwner(owner_id, name, phone, active, set()))
        if label is not None:
            owner.units.add(label)
    return sorted(owners.values(), key=lambda owner: owner.id)


def _plan_owners(
    rows: list[OwnerRow], stored: list[_StoredOwner], report: UpdateReport
) -> list[OwnerRow]:
    """Match the rows to stored owners into `report`; the rows that are new owners."""
    matched: set[int] = set()
    new: list[OwnerRow] = []
    by_name: dict[str, list[_StoredOwner]] = {}
    for owner in stored:
        by_name.setdefault(owner.name, []).append(owner)
    for row in rows:
        owner = next(
            (
                owner
                for owner in by_name.get(row.name, [])
                if owner.id not in matched
                and (set(row.units) & owner.units or (row.phone and row.phone == owner.phone))
            ),
            None,
        )
        if owner is None:
            new.append(row)
            continue
        matched.add(owner.id)
        phone = row.phone or owner.phone
        added = tuple(label for label in row.units if label not in owner.units)
        # The register lists all of an owner's units (one row an owner): one it no longer names
        # is no longer theirs.
        removed = tuple(sorted(owner.units - set(row.units)))
        if phone != owner.phone or added or removed or not owner.active:
            units = tuple(sorted(set(row.units)))
            change = OwnerChange(
                owner.id, owner.name, units, owner.phone, phone, added, not owner.active, removed
            )
            report.owners_changed.append(change)
        else:
            report.owners_unchanged += 1
    for owner in stored:
        if owner.id not in matched and owner.active:
            report.owners_gone.append((owner.id, owner.name, tuple(sorted(owner.units))))
    return new


async def _plan_bills(rows: list[BillRow], estate: Estate, report: UpdateReport) -> list[BillRow]:
    """Match the rows to stored bills into `report`; the rows that are new bills."""
    stored = await Bill.filter(unit__estate_id=estate.id).values_list(
        "id", "unit__label", "period", "item", "amount_cents", "due_date", "paid_at", "number"
    )
    by_key = {(bill[1], bill[2], str(bill[3])): bill for bill in stored}
    by_number = {bill[7]: bill for bill in stored if bill[7]}
    zone = ZoneInfo(estate.timezone)
    new: list[BillRow] = []
    for row in rows:
        bill = (
            by_number.get(row.number)
            if row.number
            else by_key.get((row.unit, row.period, str(row.item)))
        )
        if bill is None:
            new.append(row)
            continue
        bill_id, label, period, item, amount, due, paid_at, _ = bill
        row_paid = row.paid_at.replace(tzinfo=zone) if row.paid_at else None
        same_payment = row_paid is None or (paid_at is not None and paid_at == row_paid)
        if amount == row.amount_cents and due == row.due_date and same_payment:
            report.bills_unchanged += 1
            continue
        report.bills_changed.append(
            BillChange(
                bill_id,
                label,
                period,
                str(item),
                amount,
                row.amount_cents,
                row.due_date,
                row_paid or paid_at,
                paid_at is not None,
            )
        )
    return new


async def _plan_units(data: EstateData, estate: Estate, report: UpdateReport) -> None:
    """The file's units: new ones listed, stored ones taken out of `data` (they are reused),
    with a floor area or warranty date that differs listed to be set."""
    stored = {unit.label: unit for unit in await Unit.filter(estate_id=estate.id)}
    kept = []
    for unit in data.units:
        if unit.label not in stored:
            report.new_units.append(unit.label)
            kept.append(unit)
            continue
        have = stored[unit.label]
        area = unit.floor_area is not None and Decimal(have.floor_area or 0) != unit.floor_area
        warranty = unit.warranty_end is not None and have.warranty_end != unit.warranty_end
        if area or warranty:
            report.units_changed.append(unit.label)
    data.units = kept


async def update_estate(
    path: Path,
    estate_code: str,
    *,
    dry_run: bool = False,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> UpdateReport:
    """Merge a workbook or CSV folder into an existing estate (see the module), or say with
    `dry_run` what that would change; ImportFailed when the file has problems."""
    read = _read(path, limits)
    estate = await Estate.get_or_none(code=estate_code)
    if estate is None:
        raise ImportFailed([_error(path.name, 0, "update.no_estate", estate=estate_code)])
    if read.refused:
        raise ImportFailed(_sorted(read.errors))
    data = read.data
    report = UpdateReport(estate_code, dry_run, warnings=read.warnings)
    file_units = list(data.units)
    await _plan_units(data, estate, report)
    new_owners = _plan_owners(data.owners, await _stored_owners(estate), report)
    if not data.owners:
        report.owners_gone.clear()  # a file without owners says nothing of who left
    report.new_owners = new_owners
    report.new_bills = await _plan_bills(data.bills, estate, report)
    existing = await _Existing.load(estate)
    new = replace(data, owners=new_owners, bills=report.new_bills)
    new.staff = [row for row in data.staff if row.name not in existing.staff]
    new.faq = [row for row in data.faq if (row.language, row.question) not in existing.faq]
    errors = read.errors + _check(new, existing, read.loose_units)
    if errors:
        raise ImportFailed(_sorted(errors))
    if dry_run:
        return report
    await _apply(estate, file_units, report)
    try:
        moves = partial(_move_owners, estate, report)
        report.written = await write_estate(new, estate_code, finish=moves)
    except BaseException:
        await _undo(report)
        raise
    return report


async def _apply(estate: Estate, units: list[UnitRow], report: UpdateReport) -> None:
    """The changes to stored rows, in one transaction (the owners' units once the file's new
    units are written: `_move_owners`)."""
    by_label = {unit.label: unit for unit in units}
    async with in_transaction():
        for label in report.units_changed:
            row = by_label[label]
            changes = {
                name: value
                for name, value in (
                    ("floor_area", row.floor_area),
                    ("warranty_end", row.warranty_end),
                )
                if value is not None
            }
            await Unit.filter(estate_id=estate.id, label=label).update(**changes)
        for change in report.owners_changed:
            await Owner.filter(id=change.owner_id).update(phone=change.phone, active=True)
        gone = [owner_id for owner_id, _, _ in report.owners_gone]
        if gone:
            await Owner.filter(id__in=gone).update(active=False)
        for bill in report.bills_changed:
            if not bill.paid:
                await Bill.filter(id=bill.bill_id).update(
                    amount_cents=bill.amount, due_date=bill.due_date, paid_at=bill.paid_at
                )


async def _move_owners(estate: Estate, report: UpdateReport) -> None:
    """Link the owners to the units the file adds for them and unlink them from those it no
    longer names, in one transaction: the last step of the update's writing, so that a unit the
    file creates is in the store, and a failure takes it back with the rest."""
    moving = [
        change for change in report.owners_changed if change.units_added or change.units_removed
    ]
    if not moving:
        return
    stored = {unit.label: unit for unit in await Unit.filter(estate_id=estate.id)}
    async with in_transaction():
        for change in moving:
            owner = await Owner.get(id=change.owner_id)
            if change.units_removed:
                await owner.units.remove(*(stored[label] for label in change.units_removed))
            if change.units_added:
                await owner.units.add(*(stored[label] for label in change.units_added))


async def _undo(report: UpdateReport) -> None:
    """Put back what `_apply` changed (the owners and bills; units keep a corrected area). The
    owners' units need nothing: they are moved last, in one transaction (`_move_owners`)."""
    async with in_transaction():
        for change in report.owners_changed:
            await Owner.filter(id=change.owner_id).update(
                phone=change.phone_before, active=not change.reactivated
            )
        gone = [owner_id for owner_id, _, _ in report.owners_gone]
        if gone:
            await Owner.filter(id__in=gone).update(active=True)
        for bill in report.bills_changed:
            if not bill.paid:
                await Bill.filter(id=bill.bill_id).update(amount_cents=bill.amount_before)


def _yuan(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def render_update(report: UpdateReport, catalogues: Catalogues, lang: str) -> str:
    """The update's summary in `lang`: counts, and the first rows of each kind."""
    key = "import.update.dry_run" if report.dry_run else "import.update.done"
    lines = [catalogues.text(lang, key, estate=report.estate_code)]

    def section(name: str, rows: list[str]) -> None:
        if not rows:
            return
        lines.append("  " + catalogues.text(lang, f"import.update.{name}", n=len(rows)))
        lines.extend(f"    {row}" for row in rows[:SHOWN_ROWS])
        if len(rows) > SHOWN_ROWS:
            lines.append(
                "    " + catalogues.text(lang, "import.update.more", n=len(rows) - SHOWN_ROWS)
            )

    def item(name: str) -> str:
        return catalogues.text(lang, f"bill.{name}")

    section("units_new", report.new_units)
    section("units_changed", report.units_changed)
    section(
        "owners_new",
        [f"{row.name} {','.join(row.units)} {row.phone}".strip() for row in report.new_owners],
    )
    section(
        "phones",
        [
            f"{c.name} {','.join(c.units)}: {c.phone_before or '-'} → {c.phone or '-'}"
            for c in report.owners_changed
            if c.phone != c.phone_before
        ],
    )
    section(
        "owner_units",
        [
            f"{c.name} +{','.join(c.units_added)}"
            for c in report.owners_changed
            if c.units_added and not c.units_removed
        ],
    )
    section(
        "owners_moved",
        [
            f"{c.name}: {','.join(c.units_removed)} → {','.join(c.units_added) or '-'}"
            for c in report.owners_changed
            if c.units_removed
        ],
    )
    section("owners_back", [c.name for c in report.owners_changed if c.reactivated])
    section("owners_gone", [f"{name} {','.join(units)}" for _, name, units in report.owners_gone])
    section(
        "bills_new",
        [f"{b.unit} {b.period} {item(b.item)} {_yuan(b.amount_cents)}" for b in report.new_bills],
    )
    section(
        "bills_changed",
        [
            f"{b.unit} {b.period} {item(b.item)}: {_yuan(b.amount_before)} → {_yuan(b.amount)}"
            for b in report.bills_changed
            if not b.paid
        ],
    )
    section(
        "bills_paid",
        [
            f"{b.unit} {b.period} {item(b.item)}: {_yuan(b.amount_before)} ≠ {_yuan(b.amount)}"
            for b in report.paid_bills_differing
        ],
    )
    lines.append(
        "  "
        + catalogues.text(
            lang,
            "import.update.unchanged",
            owners=report.owners_unchanged,
            bills=report.bills_unchanged,
        )
    )
    lines.extend(render_warnings(report.warnings, catalogues, lang))
    return "\n".join(lines)
