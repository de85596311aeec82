#!/usr/bin/env python3
"""Benchmark the NLU on the labelled evaluation set and print every figure with its goal.

usage: python benchmarks/nlu_eval.py [DEV.jsonl] [--model PATH] [--corpus DIR]
                                     [--location FILE ...] [--json]

DEV defaults to ``../shared/nlu/dev.jsonl`` relative to the project root. The set is used for
measuring only: nothing here trains on it or looks at single messages; only aggregate scores
(computed with the definitions of ``shared/nlu/score.py``, imported from beside DEV when it is
there) and intent confusion counts are printed.

Figures: per-intent F1, macro-F1, intent accuracy, urgency precision/recall/F1, department
accuracy (repair+complaint gold), unit exact match and false-positive rate, language accuracy,
the location figures when DEV labels ``location`` (exact, place accuracy, false positives),
messages per second on one core (``understand_many`` over the set, repeated for ≥ 2 s), the
load time of the built artifact in a fresh process, and resident memory after loading.

The project's own location sets (``benchmarks/location/tune.jsonl``, on which the location rules
are tuned, and ``holdout.jsonl``, only ever reported) are scored too when they exist, or the
files given with ``--location``: location exact, place accuracy, building accuracy, unit-location
accuracy, location false positives, and the intent, department and unit figures.
"""

from __future__ import annotations

import os

# One core: keep BLAS single-threaded (set before numpy is imported).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DEV = ROOT.parent / "shared" / "nlu" / "dev.jsonl"
DEFAULT_MODEL = ROOT / "data" / "nlu" / "model.pkl"
DEFAULT_LOCATION_SETS = (
    ROOT / "benchmarks" / "location" / "tune.jsonl",
    ROOT / "benchmarks" / "location" / "holdout.jsonl",
)

GOALS: list[tuple[str, str, float, str]] = [
    # (label, key, target, direction)
    # The floors the router must keep (issue 12: the figures may not fall below these).
    ("intent macro-F1", "intent_macro_f1", 0.96, ">="),
    ("urgent recall", "urgent_recall", 0.97, ">="),
    ("urgent precision", "urgent_precision", 0.88, ">="),
    ("department accuracy", "department_accuracy", 0.88, ">="),
    ("unit exact match", "unit_exact", 0.98, ">="),
    ("unit false positives", "unit_false_positive", 0.0, "<="),
    ("messages per second (1 core)", "messages_per_second", 2000.0, ">="),
    ("model load, fresh process (s)", "load_seconds_fresh", 2.0, "<="),
]

_INTENTS = ["repair", "complaint", "enquiry", "payment", "other"]


def _builtin_score(gold: list[dict], pred: list[dict]) -> dict[str, Any]:
    """A line-for-line copy of shared/nlu/score.py's ``score`` (used if it is not found)."""

    def norm_unit(u: Any) -> Any:
        if not u:
            return None
        return tuple(
            str(u.get(k) or "").strip().upper() or None for k in ("building", "entrance", "room")
        )

    def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return (2 * p * r / (p + r) if p + r else 0.0), p, r

    n = len(gold)
    assert len(pred) == n, f"{len(pred)} predictions for {n} messages"
    conf: Counter = Counter()
    for g, p in zip(gold, pred, strict=True):
        conf[(g["intent"], p.get("intent"))] += 1
    per = {}
    for c in _INTENTS:
        tp = conf[(c, c)]
        fp = sum(v for (gi, pi), v in conf.items() if pi == c and gi != c)
        fn = sum(v for (gi, pi), v in conf.items() if gi == c and pi != c)
        per[c] = f1(tp, fp, fn)
    macro = sum(v[0] for v in per.values()) / len(_INTENTS)
    acc = sum(conf[(c, c)] for c in _INTENTS) / n
    pairs = list(zip(gold, pred, strict=True))
    tp = sum(1 for g, p in pairs if g["urgent"] and p.get("urgent") is True)
    fp = sum(1 for g, p in pairs if not g["urgent"] and p.get("urgent") is True)
    fn = sum(1 for g, p in pairs if g["urgent"] and p.get("urgent") is not True)
    urg = f1(tp, fp, fn)
    dep_items = [(g, p) for g, p in pairs if g["intent"] in ("repair", "complaint")]
    dep = sum(1 for g, p in dep_items if p.get("department") == g["department"]) / max(
        1, len(dep_items)
    )
    with_unit = [(g, p) for g, p in pairs if g.get("unit")]
    unit_exact = sum(
        1 for g, p in with_unit if norm_unit(p.get("unit")) == norm_unit(g["unit"])
    ) / max(1, len(with_unit))
    no_unit = [(g, p) for g, p in pairs if not g.get("unit")]
    unit_fp = sum(1 for g, p in no_unit if p.get("unit")) / max(1, len(no_unit))
    lang = sum(1 for g, p in pairs if p.get("lang") == g["lang"]) / n
    return {
        "n": n,
        "intent_accuracy": round(acc, 4),
        "intent_macro_f1": round(macro, 4),
        "per_intent_f1": {c: round(per[c][0], 4) for c in _INTENTS},
        "urgent_f1": round(urg[0], 4),
        "urgent_precision": round(urg[1], 4),
        "urgent_recall": round(urg[2], 4),
        "department_accuracy": round(dep, 4),
        "unit_exact": round(unit_exact, 4),
        "unit_false_positive": round(unit_fp, 4),
        "lang_accuracy": round(lang, 4),
        "confusion": {f"{a}->{b}": v for (a, b), v in sorted(conf.items()) if a != b},
    }


def load_scorer(dev_path: Path) -> tuple[Any, str]:
    """score() from score.py beside the dev set, else the identical built-in copy."""
    candidate = dev_path.resolve().parent / "score.py"
    if candidate.is_file():
        spec = importlib.util.spec_from_file_location("guanjia_shared_score", candidate)
        if spec and spec.loader:
            module: ModuleType = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.score, str(candidate)
    return _builtin_score, "built-in copy of score.py"


_LOAD_SNIPPET = """
import time, resource, sys, json
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from pathlib import Path
from bot.core.nlu import NLU
nlu = NLU.load(Path({model!r}), corpus_dir=Path({corpus!r}))
nlu.understand("3栋2单元501 厨房漏水")
t1 = time.perf_counter()
print(json.dumps({{"seconds": t1 - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def load_in_subprocess(model: Path, corpus: Path) -> dict[str, float]:
    """Load (training first if the artifact is missing or stale) in a new Python process.

    Run from this still-small process, so the child's peak RSS (which Linux carries over a
    fork) is the child's own.
    """
    code = _LOAD_SNIPPET.format(root=str(ROOT), model=str(model), corpus=str(corpus))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[0]})
        return f"pinned to CPU {cpus[0]}"
    return "not pinned (no sched_setaffinity)"


def urgency_errors(gold: list[dict], preds: list[dict]) -> dict[str, dict[str, int]]:
    """Missed and false urgent messages counted by what the lexicon found in them (hard or soft
    kinds, or nothing: the classifier's call alone) and by gold intent and language — where the
    errors come from, without showing a message."""
    from bot.core.nlu import scan

    errors: dict[str, Counter[str]] = {"missed": Counter(), "false": Counter()}
    for g, p in zip(gold, preds, strict=True):
        if bool(g.get("urgent")) == bool(p.get("urgent")):
            continue
        signals = scan(g["text"])
        found = (
            ",".join([f"hard:{k}" for k in signals.hard] + [f"soft:{k}" for k in signals.soft])
            or "no rule"
        )
        side = "missed" if g.get("urgent") else "false"
        errors[side][f"{found} / {g.get('intent')} / {g.get('lang')}"] += 1
    return {side: dict(sorted(c.items())) for side, c in errors.items()}


def _norm_location(loc: Any) -> tuple[str | None, ...] | None:
    """("unit", building, entrance, room), ("place", building, place) or None, as score.py."""
    if not loc or not isinstance(loc, dict):
        return None
    if "unit" in loc:
        u = loc["unit"]
        if not isinstance(u, dict):
            return None
        return (
            "unit",
            *(
                str(u.get(k) or "").strip().upper() or None
                for k in ("building", "entrance", "room")
            ),
        )
    place = str(loc.get("place") or "").strip().lower() or None
    building = str(loc.get("building") or "").strip().upper() or None
    if place is None and building is None:
        return None
    return ("place", building, place)


def location_figures(gold: list[dict], preds: list[dict]) -> dict[str, float | int]:
    """Building accuracy (gold lines with a place: a place predicted in the same building, None
    included) and unit-location accuracy (gold lines located in a flat), with their counts."""
    pairs = [
        (_norm_location(g.get("location")), _norm_location(p.get("location")))
        for g, p in zip(gold, preds, strict=True)
    ]
    placed = [(g, p) for g, p in pairs if g and g[0] == "place"]
    in_flat = [(g, p) for g, p in pairs if g and g[0] == "unit"]
    building = sum(1 for g, p in placed if p and p[0] == "place" and p[1] == g[1])
    return {
        "building_accuracy": round(building / max(1, len(placed)), 4),
        "unit_location_accuracy": round(
            sum(1 for g, p in in_flat if p == g) / max(1, len(in_flat)), 4
        ),
        "n_place": len(placed),
        "n_unit_location": len(in_flat),
        "n_null_location": sum(1 for g, _ in pairs if g is None),
    }


def score_location_set(nlu: Any, path: Path, score: Any) -> dict[str, Any]:
    """Every figure of one labelled location set (the project's own, not the dev set)."""
    gold = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    preds = [u.to_json() for u in nlu.understand_many([g["text"] for g in gold])]
    result = score(gold, preds)
    result.update(location_figures(gold, preds))
    return result


def print_location_set(name: str, r: dict[str, Any]) -> None:
    """Print the figures of one location set in a few lines."""
    print(
        f"{name} ({r['n']} messages: {r['n_place']} in a common place, "
        f"{r['n_unit_location']} in a flat, {r['n_null_location']} null)"
    )
    print(
        f"  location exact {r['location_exact']:.4f}  place accuracy {r['place_accuracy']:.4f}  "
        f"building accuracy {r['building_accuracy']:.4f}  "
        f"unit-location accuracy {r['unit_location_accuracy']:.4f}  "
        f"false positives {r['location_false_positive']:.4f}"
    )
    print(
        f"  intent macro-F1 {r['intent_macro_f1']:.4f}  accuracy {r['intent_accuracy']:.4f}  "
        f"department accuracy {r['department_accuracy']:.4f}  unit exact {r['unit_exact']:.4f}"
        f"  unit false positives {r['unit_false_positive']:.4f}  "
        f"language accuracy {r['lang_accuracy']:.4f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dev", nargs="?", default=str(DEFAULT_DEV), help="labelled JSONL to measure")
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="artifact path")
    ap.add_argument("--corpus", default=None, help="training corpus dir (default: package's)")
    ap.add_argument(
        "--location",
        action="append",
        metavar="FILE",
        help="a labelled location set to score as well (repeatable; default: "
        "benchmarks/location/tune.jsonl and holdout.jsonl when they exist)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = ap.parse_args(argv)
    location_sets = (
        [Path(p) for p in args.location]
        if args.location
        else [p for p in DEFAULT_LOCATION_SETS if p.is_file()]
    )

    dev_path = Path(args.dev)
    model_path = Path(args.model)
    corpus = Path(args.corpus) if args.corpus else ROOT / "bot" / "core" / "nlu" / "corpus"
    score, score_src = load_scorer(dev_path)
    gold = [json.loads(line) for line in dev_path.open(encoding="utf-8") if line.strip()]
    texts = [g["text"] for g in gold]

    # 1. Build (or just load) the artifact in a child; 2. time a fresh load in another child.
    build = load_in_subprocess(model_path, corpus)
    fresh = load_in_subprocess(model_path, corpus)

    # 3. Load here (the artifact is built now) and measure memory after loading.
    from bot.core.nlu import NLU

    t0 = time.perf_counter()
    nlu = NLU.load(model_path, corpus_dir=corpus)
    load_here = time.perf_counter() - t0
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    preds = [u.to_json() for u in nlu.understand_many(texts)]
    result = score(gold, preds)
    result["urgent_errors"] = urgency_errors(gold, preds)
    result["location_sets"] = {str(p): score_location_set(nlu, p, score) for p in location_sets}

    pinned = pin_one_core()
    nlu.understand_many(texts[:50])  # warm up
    n_done, t_start = 0, time.perf_counter()
    while True:
        nlu.understand_many(texts)
        n_done += len(texts)
        elapsed = time.perf_counter() - t_start
        if elapsed >= 2.0:
            break

    result.update(
        {
            "messages_per_second": round(n_done / elapsed, 1),
            "build_seconds": round(build["seconds"], 3),
            "load_seconds_this_process": round(load_here, 3),
            "load_seconds_fresh": round(fresh["seconds"], 3),
            "rss_mb_fresh_after_load": round(fresh["rss_mb"], 1),
            "rss_mb_this_process": round(rss_after_load, 1),
            "training_report": nlu.report,
        }
    )
    goals = []
    for label, key, target, op in GOALS:
        value = float(result[key])
        met = value >= target if op == ">=" else value <= target
        goals.append({"goal": label, "value": value, "target": f"{op} {target}", "met": met})
    result["goals"] = goals

    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    cv = dict(nlu.report.get("cv", {}))  # type: ignore[call-overload]
    print(f"dev set: {dev_path} ({result['n']} messages); scorer: {score_src}")
    print(
        f"model: {model_path} (trained on {nlu.report.get('rows')} corpus lines in "
        f"{nlu.report.get('train_seconds')} s; corpus CV intent macro-F1 "
        f"{cv.get('intent_macro_f1')})"
    )
    print()
    print("intent F1: " + ", ".join(f"{k} {v:.4f}" for k, v in result["per_intent_f1"].items()))
    print(
        f"intent macro-F1 {result['intent_macro_f1']:.4f}  "
        f"accuracy {result['intent_accuracy']:.4f}"
    )
    print(
        f"urgent precision {result['urgent_precision']:.4f}  recall {result['urgent_recall']:.4f}"
        f"  F1 {result['urgent_f1']:.4f}"
    )
    print(f"department accuracy (repair+complaint gold) {result['department_accuracy']:.4f}")
    print(
        f"unit exact {result['unit_exact']:.4f}  "
        f"false positives {result['unit_false_positive']:.4f}"
    )
    print(f"language accuracy {result['lang_accuracy']:.4f}")
    if "location_exact" in result:
        print(
            f"location exact {result['location_exact']:.4f}  "
            f"place accuracy {result['place_accuracy']:.4f}  "
            f"false positives {result['location_false_positive']:.4f}"
        )
    print("intent confusions (gold->predicted): " + json.dumps(result["confusion"]))
    print(
        "urgency errors by what the rules found (no texts shown): "
        + json.dumps(result["urgent_errors"], ensure_ascii=False)
    )
    print()
    print(f"throughput {result['messages_per_second']:.0f} messages/s ({pinned}, understand_many)")
    print(
        f"load of the built artifact in a fresh process: {result['load_seconds_fresh']:.2f} s "
        f"(Python imports + artifact + jieba dictionary + first message); "
        f"first load incl. training if needed: {result['build_seconds']:.2f} s"
    )
    print(
        f"RSS after load (getrusage maxrss): {result['rss_mb_this_process']:.0f} MB here, "
        f"{result['rss_mb_fresh_after_load']:.0f} MB in the fresh process"
    )
    print()
    for path, figures in result["location_sets"].items():
        print_location_set(
            Path(path).relative_to(ROOT) if Path(path).is_relative_to(ROOT) else path, figures
        )
    if result["location_sets"]:
        print()
    for g in goals:
        status = "met" if g["met"] else "MISSED"
        print(f"  {g['goal']:<32} {g['value']:>10.4g}  (goal {g['target']})  {status}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
