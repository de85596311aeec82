#!/usr/bin/env python3
"""How fast the NLU understands one message at a time on one core, and where the time goes.

usage: python benchmarks/nlu_speed.py [DEV.jsonl] [--model PATH] [--seconds S] [--repeat N]
                                      [--dump FILE] [--json]

DEV defaults to ``../shared/nlu/dev.jsonl`` (only its texts are read). The process pins itself
to one CPU (``sched_setaffinity``, as ``taskset -c 0`` would), warms up, then calls
``NLU.understand`` on every message in turn, one call per message, for at least ``--seconds``;
this is done ``--repeat`` times and the best and median runs are printed, as messages per second
by the wall clock and by the CPU time of the process. The CPU-time figure is what one core
gives when it is not shared: other processes on a busy machine stretch the wall clock, not the
process's own CPU time. The machine's load average (1, 5, 15 minutes) is printed before and
after, since that is what a reader needs to judge the wall-clock figures.

The per-stage times (µs per message, CPU time, each stage run alone over the whole set) are the
parts of ``understand``: Traditional→Simplified, segmentation (normalising included), the
feature strings, the linear scoring, the decision (softmax, urgency policy), the urgency
lexicon, units and location, and the language.

``--dump FILE`` writes every message's ``Understanding`` as JSON lines (the labels, rounded
confidence and the full-precision scores), to compare two versions message by message.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DEV = ROOT.parent / "shared" / "nlu" / "dev.jsonl"
DEFAULT_MODEL = ROOT / "data" / "nlu" / "model.pkl"
GOAL_PER_SECOND = 5000.0


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def one_at_a_time(nlu: Any, texts: Sequence[str], seconds: float) -> dict[str, float]:
    """Messages per second calling ``understand`` once per message, by wall and CPU clock."""
    understand = nlu.understand
    n = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while True:
        for text in texts:
            understand(text)
        n += len(texts)
        wall = time.perf_counter() - wall0
        if wall >= seconds:
            break
    cpu = time.process_time() - cpu0
    return {"messages": n, "wall_per_second": n / wall, "cpu_per_second": n / cpu}


def _stage(fn: Callable[[Any], object], inputs: Sequence[Any], rounds: int) -> float:
    """Best CPU µs per input of ``fn`` over ``rounds`` passes."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for item in inputs:
            fn(item)
        best = min(best, time.process_time() - t0)
    return best / len(inputs) * 1e6


def stages(nlu: Any, texts: Sequence[str], rounds: int) -> dict[str, float]:
    """CPU µs per message of each part of ``understand``, each run alone over the set."""
    from bot.core.nlu import _ACTIONABLE, MAX_TEXT_CHARS, to_simplified
    from bot.core.nlu.features import feature_parts, normalize
    from bot.core.nlu.lang import detect_lang
    from bot.core.nlu.location import find_location
    from bot.core.nlu.segment import cut
    from bot.core.nlu.units import scan_units
    from bot.core.nlu.urgency import scan

    simplified = [to_simplified(t) for t in texts]
    heads = [t[:MAX_TEXT_CHARS] for t in simplified if t.strip()]
    norms = [normalize(h) for h in heads]
    scorer = nlu._scorer
    logits = [scorer.logits(h) for h in heads]
    # What the decision needs to know, so each stage sees the inputs it sees in understand().
    understood = [nlu._decide(h, z) for h, z in zip(heads, logits, strict=True)]
    soft = []
    for z in logits:
        p_urgent = 1.0 / (1.0 + math.exp(-z[2][0]))
        soft.append(p_urgent >= nlu._lowest_floor)
    actionable = [(h, u.intent) for h, u in zip(heads, understood, strict=True)]

    def units_and_location(item: tuple[str, str]) -> None:
        head, intent = item
        scanned = scan_units(head)
        if intent in _ACTIONABLE:
            find_location(head, intent, scanned.unit, scanned=scanned)

    out = {
        "traditional to simplified": _stage(to_simplified, texts, rounds),
        "normalise": _stage(normalize, heads, rounds),
        "segmentation": _stage(cut, norms, rounds),
        "features (normalise and segmentation included)": _stage(feature_parts, heads, rounds),
        "scoring (features included)": _stage(scorer.logits, heads, rounds),
        "urgency lexicon": _stage(
            lambda i: scan(heads[i], soft=soft[i]), range(len(heads)), rounds
        ),
        "units and location": _stage(units_and_location, actionable, rounds),
        "language": _stage(detect_lang, heads, rounds),
        "decision (urgency, units, location, language included)": _stage(
            lambda i: nlu._decide(heads[i], logits[i]), range(len(heads)), rounds
        ),
        "understand, all of it": _stage(nlu.understand, texts, rounds),
    }
    return out


def dump(nlu: Any, texts: Sequence[str], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for text in texts:
            u = nlu.understand(text)
            row = u.to_json()
            row["scores"] = {k: repr(v) for k, v in u.scores.items()}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dev", nargs="?", default=str(DEFAULT_DEV), help="JSONL with a text field")
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="artifact path")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one timed run")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs")
    ap.add_argument("--dump", metavar="FILE", help="write every message's understanding")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = ap.parse_args(argv)

    from bot.core.nlu import NLU

    texts = [
        json.loads(line)["text"] for line in Path(args.dev).open(encoding="utf-8") if line.strip()
    ]
    nlu = NLU.load(Path(args.model))
    if args.dump:
        dump(nlu, texts, Path(args.dump))

    load_before = load_average()
    pinned = pin_one_core()
    for text in texts:  # warm up
        nlu.understand(text)
    runs = [one_at_a_time(nlu, texts, args.seconds) for _ in range(args.repeat)]
    per_stage = stages(nlu, texts, rounds=3)
    load_after = load_average()

    wall = [r["wall_per_second"] for r in runs]
    cpu = [r["cpu_per_second"] for r in runs]
    result = {
        "messages_in_set": len(texts),
        "pinned": pinned,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "wall_per_second_best": round(max(wall), 1),
        "wall_per_second_median": round(statistics.median(wall), 1),
        "cpu_per_second_best": round(max(cpu), 1),
        "cpu_per_second_median": round(statistics.median(cpu), 1),
        "stages_us": {k: round(v, 1) for k, v in per_stage.items()},
        "goal_per_second": GOAL_PER_SECOND,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    print(f"{len(texts)} messages from {args.dev}, one understand() call each; {pinned}")
    print(f"load average before {load_before}, after {load_after}")
    print(
        f"messages/s by the wall clock: best {max(wall):,.0f}, median "
        f"{statistics.median(wall):,.0f} ({args.repeat} runs of ≥ {args.seconds:g} s)"
    )
    print(
        f"messages/s by the process's CPU time: best {max(cpu):,.0f}, median "
        f"{statistics.median(cpu):,.0f} (goal ≥ {GOAL_PER_SECOND:,.0f})"
    )
    print("µs per message (CPU time, best of 3 passes, each stage alone):")
    for name, us in per_stage.items():
        print(f"  {name:<58} {us:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
