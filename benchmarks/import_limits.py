#!/usr/bin/env python3
"""Import limits benchmark: what a 2-million-row workbook costs the estate import.

usage: python benchmarks/import_limits.py [--rows 2000000] [--folder DIR]

It builds three workbooks of ROWS rows in a units sheet, the way the hostile file of the report
was made: openpyxl's write-only mode writes the workbook and its header, and the rows go into
the sheet part as plain XML, the same unit again and again and unnumbered, so 2,000,000 of them
pack into a few hundred KB (openpyxl itself takes some 20 µs a row to write them).

- bad header: row 1 has an unknown column (the report's case: a header error in row 1);
- good header: a valid header, so that only the row limit can stop it;
- wide rows: eight cells a row, so that the workbook unpacks to more than the zip limit.

Each is imported by `bot.core.estate_import.import_estate` (as `guanjia import` does) into a
SQLite store in memory, in a fresh process, which prints the elapsed time, the peak resident
memory (`resource.getrusage`) and the memory it had before the import began (Python, openpyxl
and tortoise loaded, the store open), then the first problem reported. Only `import_estate`
and `ImportFailed` are used, so an older checkout can be measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402

CASES: dict[str, tuple[list[str], int]] = {
    "bad header": (["楼栋", "金钱"], 2),
    "good header": (["楼栋", "房号"], 2),
    "wide rows": (["楼栋", "房号"], 8),
}


def build(path: Path, header: list[str], rows: int, cells: int) -> Path:
    """A workbook with a units sheet: `header`, then `rows - 1` rows of `cells` numbers each."""
    workbook = openpyxl.Workbook(write_only=True)
    workbook.create_sheet("units").append(header)
    workbook.save(path)
    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    head, tail = parts.pop(sheet).split(b"</sheetData>")
    row = b"<row><c><v>1</v></c>" + b"<c><v>101</v></c>" * (cells - 1) + b"</row>"
    batch = 10_000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in parts.items():
            target.writestr(name, content)
        with target.open(sheet, "w") as member:
            member.write(head)
            for start in range(1, rows, batch):
                member.write(row * min(batch, rows - start))
            member.write(b"</sheetData>" + tail)
    return path


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(path: Path) -> dict[str, object]:
    """Import the workbook into an empty store in memory; the time, memory and first problem."""
    from bot.core.estate_import import ImportFailed, import_estate
    from models.store import close_store, open_store

    await open_store("sqlite://:memory:")
    try:
        before = peak_mb()
        start = time.perf_counter()
        try:
            report = await import_estate(path, "bench")
            outcome = f"imported: {report}"
        except ImportFailed as failed:
            outcome = f"{len(failed.errors)} problems, first: {failed.errors[0]}"
        seconds = time.perf_counter() - start
    finally:
        await close_store()
    return {"seconds": seconds, "peak_mb": peak_mb(), "before_mb": before, "outcome": outcome}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--folder", type=Path, help="keep the workbooks here (default: a temp)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure)), ensure_ascii=False))
        return 0

    with tempfile.TemporaryDirectory() as temporary:
        folder = args.folder or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{args.rows:,} rows a workbook; each imported in a fresh process")
        for name, (header, cells) in CASES.items():
            path = build(folder / f"{name.replace(' ', '-')}.xlsx", header, args.rows, cells)
            with zipfile.ZipFile(path) as archive:
                unzipped = sum(info.file_size for info in archive.infolist())
            child = subprocess.run(
                [sys.executable, __file__, "--measure", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(child.stdout.splitlines()[-1])
            print(
                f"\n{name}: {path.stat().st_size / 1024:,.0f} KB, unpacks to "
                f"{unzipped / 1024 / 1024:,.0f} MB\n"
                f"  {result['seconds']:.2f} s, peak RSS {result['peak_mb']:.0f} MB "
                f"({result['before_mb']:.0f} MB before the import)\n"
                f"  {result['outcome']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
