"""Train the NLU models from the corpus and save one artifact.

Three scikit-learn linear SVMs (``LinearSVC``, balanced class weights) share one TF-IDF space
over jieba words and character 1–3-grams (``features.py``, features seen at least twice):

- **intent** (5 classes), its regularisation chosen by stratified 5-fold cross-validation on
  the training corpus (macro-F1), its scores turned into calibrated probabilities by a softmax
  whose temperature is fitted on the out-of-fold decision values (minimum log-loss);
- **department** (5 classes), trained on the repair and complaint lines only;
- **urgent** (binary), combined with the lexicon rules of ``urgency.py``: a message is urgent
  when a *hard* rule fires (gas, fire or smoke, someone trapped, water pouring, a threat in
  progress) unless the intent model is all but sure it is a question (``HARD_INTENT_GATE``); or
  when the classifier is confident; or when a *soft* rule fires and the classifier does not
  rule it out. The classifier's thresholds are chosen on out-of-fold predictions, with the
  hard rules fixed: the best F1 among the policies whose recall is at least 0.95.

Everything is deterministic: rows are sorted, folds and solvers use fixed seeds, so the same
corpus gives the same artifact and the same predictions. scikit-learn is imported here only;
prediction (``model.py``) does not need it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from .features import featurize
from .hanzi import to_simplified
from .model import (
    MODEL_VERSION,
    FeatureSpace,
    LinearHead,
    NLUArtifact,
    fingerprint_of,
    read_corpus_bytes,
    save_artifact,
)
from .urgency import HARD_INTENT_GATE, scan

__all__ = ["CorpusRow", "read_corpus", "train_artifact", "train_model"]

log = logging.getLogger(__name__)

INTENTS = ("repair", "complaint", "enquiry", "payment", "other")
DEPARTMENTS = ("engineering", "cleaning", "security", "greening", "customer_service")
SEED = 0
N_FOLDS = 5
MIN_DF = 2
INTENT_C_GRID = (0.25, 0.5, 1.0, 2.0)
DEPARTMENT_C_GRID = (0.25, 0.5, 1.0, 2.0)
URGENT_C_GRID = (0.25, 0.5, 1.0)
URGENT_MIN_RECALL = 0.95
# The share of emergencies in an estate's real group traffic, as we expect it: the corpus holds
# far more of them (about one line in five) so that the models see enough. Precision is
# estimated at this share when the urgency policy is chosen, so that thresholds suit the traffic
# they will see rather than the corpus.
URGENT_BASE_RATE = 0.1
# The classifier's thresholds the urgency policy tries.
URGENT_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.1, 0.96, 0.025), 3))


@dataclass(frozen=True)
class CorpusRow:
    """One labelled corpus line."""

    text: str
    intent: str
    urgent: bool
    department: str | None
    lang: str


def read_corpus(
    corpus_dir: Path, contents: Sequence[tuple[str, bytes]] | None = None
) -> tuple[list[CorpusRow], dict[str, int]]:
    """Read every ``*.jsonl`` file; return valid rows sorted (deterministic) and file counts.

    Malformed lines and lines with unknown labels are skipped (and counted as ``skipped``).
    """
    rows: list[CorpusRow] = []
    counts: dict[str, int] = {}
    skipped = 0
    for name, data in contents if contents is not None else read_corpus_bytes(corpus_dir):
        n = 0
        for line in data.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text = obj["text"]
                intent = obj["intent"]
                dept = obj.get("department")
                if not isinstance(text, str) or not text.strip() or intent not in INTENTS:
                    raise ValueError("bad row")
                if dept is not None and dept not in DEPARTMENTS:
                    dept = None
                rows.append(
                    CorpusRow(
                        text=text,
                        intent=intent,
                        urgent=bool(obj.get("urgent", False)),
                        department=dept,
                        lang=str(obj.get("lang") or ""),
                    )
                )
                n += 1
            except (ValueError, KeyError, TypeError):
                skipped += 1
        counts[name] = n
    counts["skipped"] = skipped
    rows.sort(key=lambda r: (r.text, r.intent, r.urgent, r.department or "", r.lang))
    return rows, counts


def _identity(x: list[str]) -> list[str]:
    return x


def _folds(y: Sequence[Any], n_splits: int = N_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    counts = Counter(y)
    k = max(2, min(n_splits, min(counts.values()))) if len(counts) > 1 else 2
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=SEED)
    return list(skf.split(np.zeros(len(y)), y))


def _svm(c: float) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c, class_weight="balanced", max_iter=20000, random_state=SEED)


def _macro_f1(y: Sequence[str], p: Sequence[str], labels: Sequence[str]) -> float:
    f1s = []
    for c in labels:
        tp = sum(1 for a, b in zip(y, p, strict=True) if a == c and b == c)
        fp = sum(1 for a, b in zip(y, p, strict=True) if a != c and b == c)
        fn = sum(1 for a, b in zip(y, p, strict=True) if a == c and b != c)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(f1s) / len(f1s)


def _oof_logits(
    x: Any,
    y: Sequence[str],
    c: float,
    folds: Any,
    classes: Sequence[str],
) -> Any:
    """Out-of-fold decision values, columns in ``classes`` order."""
    out = np.zeros((x.shape[0], len(classes)))
    y_arr = np.asarray(y)
    for tr, te in folds:
        model = _svm(c).fit(x[tr], y_arr[tr])
        dec = model.decision_function(x[te])
        if dec.ndim == 1:  # two classes present in the fold
            dec = np.column_stack([-dec / 2, dec / 2])
        cols = {cl: i for i, cl in enumerate(model.classes_)}
        for j, cl in enumerate(classes):
            out[te, j] = dec[:, cols[cl]] if cl in cols else -1e9
    return out


def _fit_temperature(logits: Any, y_idx: Any) -> float:
    """The softmax temperature minimising the out-of-fold negative log-likelihood."""
    best_t, best_nll = 1.0, math.inf
    for t in np.round(np.geomspace(0.02, 5.0, 120), 4):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = float(-logp[np.arange(len(y_idx)), y_idx].mean())
        if nll < best_nll - 1e-12:
            best_t, best_nll = float(t), nll
    return best_t


def _head(model: Any, classes: Sequence[str], temperature: float = 1.0) -> LinearHead:
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if coef.shape[0] > 1:
        order = [list(model.classes_).index(c) for c in classes]
        coef = coef[order]
        intercept = intercept[order]
    return LinearHead(
        classes=tuple(classes),
        coef_t=np.ascontiguousarray(coef.T),
        intercept=intercept,
        temperature=temperature,
    )


def _choose_c(x: Any, y: Sequence[str], grid: Sequence[float], labels: Sequence[str]) -> tuple:
    folds = _folds(y)
    scores: dict[float, float] = {}
    best: tuple[float, float, Any] | None = None
    for c in grid:
        logits = _oof_logits(x, y, c, folds, labels)
        pred = [labels[i] for i in logits.argmax(axis=1)]
        score = _macro_f1(y, pred, labels)
        scores[c] = round(score, 4)
        if best is None or score > best[0] + 1e-9:
            best = (score, c, logits)
    assert best is not None
    return best[1], scores, best[2]


def _urgent_policy(
    p_urgent: Any,
    rules: Sequence[bool],
    actionable: Any,
    y: Sequence[bool],
    hard: Sequence[bool] | None = None,
    kinds: Sequence[Sequence[str]] | None = None,
) -> tuple[float, float, float, dict[str, Any]]:
    """Pick (threshold, rule_floor, gate) on out-of-fold predictions, then a floor per kind.

    urgent = hard
             or ((p ≥ threshold or (a rule fires and p ≥ rule_floor))
                 and P(repair) + P(complaint) ≥ gate),

    where ``hard`` (a hard rule fired and passed the hard intent gate) is given, not tuned.

    The goal is recall ≥ URGENT_MIN_RECALL (a missed emergency costs more than a false alarm)
    with the best precision: among policies reaching that recall, the one with the best F1;
    if none does, the one with the best F2. Precision and F-scores are those at
    URGENT_BASE_RATE, the share of emergencies expected in real traffic.

    With ``kinds`` (the lexicon kinds found in each line), each kind may then get its own floor
    in place of rule_floor, one kind after the other, when that scores better by the same
    goal: a kind whose hints are often wrong needs more of the classifier's agreement. The
    floors are returned in the stats as ``kind_floors``.
    """
    y_arr = np.asarray(y, dtype=bool)
    r_arr = np.asarray(rules, dtype=bool)
    h_arr = np.zeros(len(y_arr), dtype=bool) if hard is None else np.asarray(hard, dtype=bool)
    p_arr = np.asarray(p_urgent, dtype=float)
    a_arr = np.asarray(actionable, dtype=float)
    # Weights that make urgent lines URGENT_BASE_RATE of the whole (recall does not change).
    share = float(y_arr.mean()) if len(y_arr) else 0.0
    w_pos = URGENT_BASE_RATE / share if 0.0 < share < 1.0 else 1.0
    w_neg = (1.0 - URGENT_BASE_RATE) / (1.0 - share) if 0.0 < share < 1.0 else 1.0

    def score(pred: Any) -> tuple[float, float, float, float]:
        tp = float((pred & y_arr).sum()) * w_pos
        fp = float((pred & ~y_arr).sum()) * w_neg
        fn = float((~pred & y_arr).sum()) * w_pos
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        f2 = 5 * prec * rec / (4 * prec + rec) if prec + rec else 0.0
        return f1, f2, prec, rec

    def key(stats: tuple[float, float, float, float]) -> tuple[float, float]:
        f1, f2, _, rec = stats
        return (1.0, f1) if rec >= URGENT_MIN_RECALL else (0.0, f2)

    best: tuple[tuple[float, float], tuple[float, float, float, float], float, float, float] | None
    best = None
    for gate in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
        gated = a_arr >= gate
        for t in URGENT_THRESHOLDS:
            for floor in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35):
                pred = h_arr | (((p_arr >= t) | (r_arr & (p_arr >= floor))) & gated)
                stats = score(pred)
                if best is None or key(stats) > best[0]:
                    best = (key(stats), stats, t, float(floor), float(gate))
    assert best is not None
    best_key, stats, t, floor, gate = best

    kind_floors: dict[str, float] = {}
    if kinds is not None:
        masks = {
            k: np.array([k in row for row in kinds], dtype=bool) for k in sorted({*chain(*kinds)})
        }
        gated = a_arr >= gate

        def predict(threshold: float, floors: dict[str, float]) -> Any:
            agreed = np.zeros(len(y_arr), dtype=bool)
            for k, mask in masks.items():
                agreed |= mask & (p_arr >= floors.get(k, floor))
            return h_arr | (((p_arr >= threshold) | agreed) & gated)

        # The classifier's own threshold may rise once a weak kind has its own floor.
        for threshold in URGENT_THRESHOLDS:
            floors: dict[str, float] = {}
            floors_key = key(score(predict(threshold, floors)))
            for k in masks:
                for candidate in (0.0, 0.1, 0.2, 0.35, 0.5, 0.6, 0.7):
                    trial = {**floors, k: candidate}
                    trial_key = key(score(predict(threshold, trial)))
                    if trial_key > floors_key:
                        floors_key, floors = trial_key, trial
            if floors_key > best_key:
                best_key, t, kind_floors = floors_key, threshold, floors
                stats = score(predict(t, kind_floors))
    f1, f2, prec, rec = stats
    return (
        t,
        floor,
        gate,
        {
            "f1": round(f1, 4),
            "f2": round(f2, 4),
            "precision": round(prec, 4),
            "recall": round(rec, 4),
            "kind_floors": {k: kind_floors[k] for k in sorted(kind_floors)},
        },
    )


# The stages of a training, in order: `train_artifact` names each as it begins it.
TRAIN_STAGES = ("corpus", "features", "intent", "department", "urgent")


def no_progress(stage: str) -> None:
    """Progress told to nobody."""


def train_artifact(corpus_dir: Path, progress: Callable[[str], None] = no_progress) -> NLUArtifact:
    """Train all models on the corpus and return the artifact (not saved); `progress` is told
    each of `TRAIN_STAGES` as it begins."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    started = time.perf_counter()
    progress("corpus")
    corpus_dir = Path(corpus_dir)
    contents = read_corpus_bytes(corpus_dir)
    rows, file_counts = read_corpus(corpus_dir, contents)
    if len({r.intent for r in rows}) < 2:
        raise ValueError(f"corpus at {corpus_dir} needs at least two intents to train on")
    progress("features")
    # The text the NLU reads at run time: Traditional Chinese converted to Simplified.
    feats = [featurize(to_simplified(r.text)) for r in rows]
    vectorizer = TfidfVectorizer(
        analyzer=_identity,
        sublinear_tf=True,
        min_df=MIN_DF if len(rows) >= 200 else 1,
        norm="l2",
        dtype=np.float64,
    )
    x = vectorizer.fit_transform(feats)
    vocab = {f: int(i) for f, i in sorted(vectorizer.vocabulary_.items(), key=lambda kv: kv[1])}
    space = FeatureSpace(
        vocabulary=vocab,
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        default_idf=float(np.max(vectorizer.idf_)),
    )

    # intent
    progress("intent")
    y_int = [r.intent for r in rows]
    intent_labels = [c for c in INTENTS if c in set(y_int)]
    c_int, int_scores, oof = _choose_c(x, y_int, INTENT_C_GRID, intent_labels)
    y_idx = np.array([intent_labels.index(v) for v in y_int])
    temperature = _fit_temperature(oof, y_idx)
    oof_cal = oof / temperature
    oof_pred = [intent_labels[i] for i in oof.argmax(axis=1)]
    intent_model = _svm(c_int).fit(x, y_int)
    intent_head = _head(intent_model, intent_labels, temperature)
    if tuple(intent_labels) != INTENTS:  # pad classes absent from a tiny corpus
        full = np.full((x.shape[1], len(INTENTS)), 0.0)
        icpt = np.full(len(INTENTS), -1e3)
        for j, c in enumerate(intent_labels):
            full[:, INTENTS.index(c)] = intent_head.coef_t[:, j]
            icpt[INTENTS.index(c)] = intent_head.intercept[j]
        intent_head = LinearHead(INTENTS, full, icpt, temperature)

    # department, on repair and complaint lines
    progress("department")
    dep_idx = [
        i for i, r in enumerate(rows) if r.intent in ("repair", "complaint") and r.department
    ]
    y_dep = [rows[i].department or "" for i in dep_idx]
    dep_labels = [d for d in DEPARTMENTS if d in set(y_dep)]
    x_dep = x[dep_idx]
    if len(dep_labels) >= 2:
        dep_counts = Counter(y_dep)
        if min(dep_counts.values()) >= 2:
            c_dep, dep_scores, dep_oof = _choose_c(x_dep, y_dep, DEPARTMENT_C_GRID, dep_labels)
            dep_acc = float(
                np.mean(
                    [
                        dep_labels[i] == t
                        for i, t in zip(dep_oof.argmax(axis=1), y_dep, strict=True)
                    ]
                )
            )
        else:
            c_dep, dep_scores, dep_acc = DEPARTMENT_C_GRID[-1], {}, float("nan")
        dep_model = _svm(c_dep).fit(x_dep, y_dep)
        dep_head = _head(dep_model, dep_labels)
    else:
        c_dep, dep_scores, dep_acc = 0.0, {}, float("nan")
        only = dep_labels[0] if dep_labels else "engineering"
        dep_head = LinearHead((only,), np.zeros((x.shape[1], 1)), np.zeros(1))

    # urgent: classifier + lexicon rules
    progress("urgent")
    y_urg = [r.urgent for r in rows]
    signals = [scan(r.text) for r in rows]
    rules = [bool(s) for s in signals]
    kinds = [s.kinds for s in signals]
    hard_rules = [bool(s.hard) for s in signals]
    y_urg_s = ["1" if v else "0" for v in y_urg]
    if len(set(y_urg_s)) == 2 and min(Counter(y_urg_s).values()) >= 2:
        z = oof_cal - oof_cal.max(axis=1, keepdims=True)
        p_int = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        act_cols = [intent_labels.index(c) for c in ("repair", "complaint") if c in intent_labels]
        actionable = p_int[:, act_cols].sum(axis=1) if act_cols else np.ones(len(rows))
        ask_cols = [intent_labels.index(c) for c in ("enquiry", "payment") if c in intent_labels]
        asking = p_int[:, ask_cols].sum(axis=1) if ask_cols else np.zeros(len(rows))
        hard_pass = np.asarray(hard_rules, dtype=bool) & (asking < HARD_INTENT_GATE)
        urg_folds = _folds(y_urg_s)
        best_urg: tuple[tuple[float, float, float], float, tuple] | None = None
        for c in URGENT_C_GRID:
            urg_oof = _oof_logits(x, y_urg_s, c, urg_folds, ["0", "1"])
            p_oof = 1.0 / (1.0 + np.exp(-(urg_oof[:, 1] - urg_oof[:, 0])))
            policy = _urgent_policy(p_oof, rules, actionable, y_urg, hard_pass, kinds)
            stats = policy[3]
            key = (float(stats["recall"] >= URGENT_MIN_RECALL), stats["f1"], stats["f2"])
            if best_urg is None or key > best_urg[0]:
                best_urg = (key, c, policy)
        assert best_urg is not None
        _, c_urg, (threshold, floor, gate, urg_cv) = best_urg
        kind_floors = dict(urg_cv.pop("kind_floors", {}))  # type: ignore[call-overload]
        urg_cv = {**urg_cv, "C": c_urg}
        urg_model = _svm(c_urg).fit(x, y_urg_s)
        urg_head = _head(urg_model, ("0", "1"))
    else:
        threshold, floor, gate, urg_cv = 2.0, 0.0, 0.0, {}
        kind_floors = {}
        urg_head = LinearHead(("0", "1"), np.zeros((x.shape[1], 1)), np.array([-10.0]))

    rule_tp = sum(1 for r, g in zip(rules, y_urg, strict=True) if r and g)
    rule_fp = sum(1 for r, g in zip(rules, y_urg, strict=True) if r and not g)
    hard_tp = sum(1 for r, g in zip(hard_rules, y_urg, strict=True) if r and g)
    hard_fp = sum(1 for r, g in zip(hard_rules, y_urg, strict=True) if r and not g)
    report: dict[str, object] = {
        "model_version": MODEL_VERSION,
        "rows": len(rows),
        "files": file_counts,
        "intents": dict(sorted(Counter(y_int).items())),
        "urgent_rows": int(sum(y_urg)),
        "department_rows": len(dep_idx),
        "features": int(x.shape[1]),
        "cv": {
            "folds": N_FOLDS,
            "intent_macro_f1_by_C": int_scores,
            "intent_C": c_int,
            "intent_macro_f1": round(_macro_f1(y_int, oof_pred, intent_labels), 4),
            "intent_accuracy": round(
                float(np.mean([a == b for a, b in zip(y_int, oof_pred, strict=True)])), 4
            ),
            "intent_temperature": temperature,
            "department_macro_f1_by_C": dep_scores,
            "department_C": c_dep,
            "department_accuracy": round(dep_acc, 4),
            "urgent": urg_cv,
            "urgent_threshold": threshold,
            "urgent_rule_floor": floor,
            "urgent_gate": gate,
            "urgent_kind_floors": kind_floors,
            "urgent_hard_gate": HARD_INTENT_GATE,
            "urgent_rules_alone": {"tp": rule_tp, "fp": rule_fp, "positives": int(sum(y_urg))},
            "urgent_hard_rules": {"tp": hard_tp, "fp": hard_fp},
        },
    }
    report["train_seconds"] = round(time.perf_counter() - started, 2)
    return NLUArtifact(
        fingerprint=fingerprint_of(contents),
        version=MODEL_VERSION,
        space=space,
        intent=intent_head,
        department=dep_head,
        urgent=urg_head,
        urgent_threshold=threshold,
        urgent_rule_floor=floor,
        urgent_gate=gate,
        urgent_hard_gate=HARD_INTENT_GATE,
        report=report,
        urgent_kind_floors=kind_floors,
    )


def train_model(
    corpus_dir: Path, out_path: Path, progress: Callable[[str], None] = no_progress
) -> dict:
    """Train on ``corpus_dir``, save the artifact to ``out_path`` and return a small report;
    `progress` is told each stage as it begins."""
    artifact = train_artifact(corpus_dir, progress)
    save_artifact(artifact, Path(out_path))
    log.info(
        "NLU model trained on %s rows in %.1fs, saved to %s",
        artifact.report.get("rows"),
        artifact.report.get("train_seconds"),
        out_path,
    )
    return dict(artifact.report)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.core.nlu.train [CORPUS_DIR] [OUT]``: train and print the report."""
    import argparse

    here = Path(__file__).parent
    ap = argparse.ArgumentParser(description="Train the Guanjia NLU model.")
    ap.add_argument("corpus", nargs="?", default=str(here / "corpus"))
    ap.add_argument("out", nargs="?", default="data/nlu/model.pkl")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = train_model(Path(args.corpus), Path(args.out))
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
