"""Guanjia's natural-language understanding: what an owner's message is about.

For each message the NLU finds the intent (repair, complaint, enquiry, payment, other) with a
calibrated confidence, whether it is urgent, the department that acts, the unit it names and
the language it is written in (LABELS.md defines every label)::

    nlu = NLU.load()                     # trains ./data/nlu/model.pkl first if needed
    u = nlu.understand("5栋1单元1202 马桶堵了，能上门吗")
    u.intent, u.department, u.unit       # "repair", "engineering", Unit("5", "1", "1202")

Intent, department and urgency come from linear models trained on the corpus in ``corpus/``
(``train.py``); the unit, the location of the problem and the language come from rules
(``units.py``, ``location.py``, ``lang.py``). Each message is first converted from Traditional
to Simplified Chinese (``hanzi.py``), once, so every rule and feature reads the same text.

Urgency does not depend on the intent model alone. The lexicon of ``urgency.py`` (its phrases
kept as data in ``urgency_zh.toml`` and ``urgency_en.toml``) has *hard*
signals (a gas smell, fire or smoke, someone trapped, water pouring, a threat in progress) that
make a message urgent however it is phrased, unless the intent model is all but certain it is
a question for information, not a report ("what is the gas emergency number?"); and *soft*
signals (an outage, a stranger hanging around, a window about to fall) that count only when
the urgency classifier does not rule them out. The classifier can also find urgency on its own.
An urgent message is always a repair or a complaint (so it becomes a ticket and alerts the
staff): when the intent model preferred another intent, the likelier of the two is taken.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np

from .faq import DEFAULT_FAQ_THRESHOLD, FaqIndex, faq_features
from .features import feature_parts, featurize
from .hanzi import to_simplified
from .lang import detect_lang
from .location import PLACES, Location, find_location
from .model import NLUArtifact, fingerprint, load_artifact, read_corpus_bytes, save_artifact
from .segment import tokenizer
from .train import no_progress, train_artifact, train_model
from .units import Unit, parse_unit, scan_units
from .urgency import hard_signals, rule_urgent, scan, urgent_signals

__all__ = [
    "DEFAULT_CORPUS_DIR",
    "DEFAULT_MODEL_PATH",
    "DEPARTMENTS",
    "INTENTS",
    "NLU",
    "PLACES",
    "FaqIndex",
    "Location",
    "Understanding",
    "Unit",
    "detect_lang",
    "hard_signals",
    "parse_unit",
    "rule_urgent",
    "to_simplified",
    "train_model",
    "urgent_signals",
]

log = logging.getLogger(__name__)

INTENTS = ("repair", "complaint", "enquiry", "payment", "other")
DEPARTMENTS = ("engineering", "cleaning", "security", "greening", "customer_service")
DEFAULT_MODEL_PATH = Path("data/nlu/model.pkl")  # relative to the working directory
DEFAULT_CORPUS_DIR = Path(__file__).with_name("corpus")
MAX_TEXT_CHARS = 4000  # rules look at this much; features at features.MAX_FEATURE_CHARS

_ACTIONABLE = ("repair", "complaint")


@dataclass(frozen=True)
class Understanding:
    """What the NLU understood from one message.

    ``confidence`` is the calibrated probability of ``intent`` (``scores[intent]``). It is the
    highest score except for an urgent message the intent model took for an enquiry, payment or
    chit-chat: its intent is then the likelier of repair and complaint.
    """

    intent: str
    confidence: float
    urgent: bool
    department: str | None
    unit: Unit | None
    lang: str
    scores: Mapping[str, float] = field(default_factory=dict, hash=False)
    # Where the problem is (a flat or a common place), apart from the unit the owner gives.
    location: Location | None = None

    def to_json(self) -> dict[str, Any]:
        """The fields of LABELS.md, as score.py reads them."""
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "urgent": self.urgent,
            "department": self.department,
            "unit": self.unit.to_dict() if self.unit else None,
            "lang": self.lang,
            "location": self.location.to_json() if self.location else None,
        }


class NLU:
    """A loaded NLU model. Thread-safe for reading; build it with :meth:`load`."""

    def __init__(self, artifact: NLUArtifact) -> None:
        self.artifact = artifact
        self._space = artifact.space
        self._intent = artifact.intent
        self._dept = artifact.department
        self._urgent = artifact.urgent
        self._scorer = _Scorer(artifact)
        floors = getattr(artifact, "urgent_kind_floors", None) or {}
        self._floors: dict[str, float] = dict(floors)
        self._lowest_floor = min([artifact.urgent_rule_floor, *floors.values()])
        tokenizer()  # initialise the segmenter now, not on the first message

    @property
    def fingerprint(self) -> str:
        return self.artifact.fingerprint

    @property
    def report(self) -> Mapping[str, object]:
        """The training report saved with the artifact (counts, cross-validation scores)."""
        return self.artifact.report

    @classmethod
    def load(
        cls,
        model_path: Path | None = None,
        *,
        corpus_dir: Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> NLU:
        """Load the artifact, training (and saving) it first if it is missing or stale (telling
        `progress` each stage of the training as it begins).

        ``model_path`` defaults to ``./data/nlu/model.pkl`` (relative to the working
        directory); ``corpus_dir`` to the package's ``corpus/`` folder. The artifact is stale
        when its fingerprint differs from the corpus (and dictionary) on disk.
        """
        model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
        corpus_dir = Path(corpus_dir) if corpus_dir is not None else DEFAULT_CORPUS_DIR
        artifact = load_artifact(model_path)
        has_corpus = bool(read_corpus_bytes(corpus_dir)) if corpus_dir.is_dir() else False
        if not has_corpus:
            if artifact is None:
                raise FileNotFoundError(
                    f"no NLU model at {model_path} and no corpus (*.jsonl) in {corpus_dir}"
                )
            log.warning("no corpus in %s; using the NLU model at %s as is", corpus_dir, model_path)
            return cls(artifact)
        current = fingerprint(corpus_dir)
        if artifact is not None and artifact.fingerprint == current:
            return cls(artifact)
        reason = "missing" if artifact is None else "stale (the corpus changed)"
        log.info("NLU model at %s is %s; training from %s", model_path, reason, corpus_dir)
        try:
            fresh = train_artifact(corpus_dir, progress or no_progress)
        except ValueError:
            if artifact is None:
                raise
            log.exception("NLU training failed; keeping the previous model at %s", model_path)
            return cls(artifact)
        artifact = fresh
        save_artifact(artifact, model_path)
        log.info(
            "NLU model trained on %s messages in %ss and saved to %s",
            artifact.report.get("rows"),
            artifact.report.get("train_seconds"),
            model_path,
        )
        return cls(artifact)

    def understand(self, text: str) -> Understanding:
        """Understand one message."""
        # Traditional Chinese becomes Simplified here, once, for every rule and feature below.
        text = to_simplified(text) if isinstance(text, str) else ""
        if not text.strip():
            return _empty(text)
        head = text[:MAX_TEXT_CHARS]
        return self._decide(head, self._scorer.logits(head))

    def understand_many(self, texts: Sequence[str]) -> list[Understanding]:
        """Understand a batch of messages (each as :meth:`understand` would)."""
        return [self.understand(t) for t in texts]

    def _decide(self, head: str, logits: _Logits) -> Understanding:
        z_int, z_dep, z_urg = logits
        temperature = self._intent.temperature
        z = [v / temperature for v in z_int]
        top = max(z)
        e = [math.exp(v - top) for v in z]
        total = sum(e)
        p_int = [v / total for v in e]
        scores = dict(zip(self._intent.classes, p_int, strict=True))
        best = p_int.index(max(p_int))
        intent = self._intent.classes[best]
        confidence = p_int[best]
        p_urgent = 1.0 / (1.0 + math.exp(-z_urg[0]))
        art = self.artifact
        actionable = scores.get("repair", 0.0) + scores.get("complaint", 0.0)
        asking = scores.get("enquiry", 0.0) + scores.get("payment", 0.0)
        # Soft signals only matter when the classifier does not rule the message out.
        signals = scan(head, soft=p_urgent >= self._lowest_floor)
        if signals.hard and asking < art.urgent_hard_gate:
            urgent = True
        else:
            floors = self._floors
            agreed = any(
                p_urgent >= floors.get(kind, art.urgent_rule_floor) for kind in signals.kinds
            )
            urgent = actionable >= art.urgent_gate and (p_urgent >= art.urgent_threshold or agreed)
        if urgent and intent not in _ACTIONABLE:
            # Danger now needs a ticket: report it as the likelier of repair and complaint.
            intent = max(_ACTIONABLE, key=lambda c: scores.get(c, 0.0))
            confidence = scores.get(intent, 0.0)
        department = None
        if intent in _ACTIONABLE:
            department = self._dept.classes[z_dep.index(max(z_dep))]
        scanned = scan_units(head)
        unit = scanned.unit
        location = (
            find_location(head, intent, unit, scanned=scanned) if intent in _ACTIONABLE else None
        )
        return Understanding(
            intent=intent,
            confidence=confidence,
            urgent=bool(urgent),
            department=department,
            unit=unit,
            lang=detect_lang(head),
            scores=scores,
            location=location,
        )

    def faq_index(
        self, entries: Sequence[tuple[str, str]], threshold: float = DEFAULT_FAQ_THRESHOLD
    ) -> FaqIndex:
        """An index over FAQ entries ``(key, question)`` using this model's features."""
        return FaqIndex(entries, self._space, _featurize_simplified, threshold)

    def match_features(self, text: str) -> list[str]:
        """The features two texts are compared by (`faq_index`, a ticket's duplicate check):
        computed once per text, kept with what it belongs to (a ticket's `features`)."""
        return faq_features(_featurize_simplified(text or ""))

    def match_index(
        self,
        entries: Sequence[tuple[str, Sequence[str]]],
        threshold: float = DEFAULT_FAQ_THRESHOLD,
    ) -> FaqIndex:
        """An index over entries ``(key, features)`` whose features were kept
        (`match_features`): building it segments nothing."""
        return FaqIndex.from_features(entries, self._space, _featurize_simplified, threshold)

    def locate(self, text: str, intent: str) -> Location | None:
        """Where the problem of a message is, taken as `intent` (an owner who chose the intent
        from a clarifying question)."""
        head = to_simplified(text)[:MAX_TEXT_CHARS]
        return find_location(head, intent, parse_unit(head))


def _empty(text: str) -> Understanding:
    scores = {c: (1.0 if c == "other" else 0.0) for c in INTENTS}
    return Understanding("other", 1.0, False, None, None, detect_lang(text), scores)


# The logits of the three heads for one message: intent, department, urgency.
_Logits = tuple[list[float], list[float], list[float]]


class _Scorer:
    """The three linear heads over the TF-IDF vector of one message, in plain Python.

    numpy costs more than the arithmetic on the few dozen features of one message, and so does
    a Python loop over a dozen outputs per feature. So each feature's numbers (its idf squared,
    then its row of the three heads' coefficients times its idf) are packed into one Python
    integer, each number a signed fixed-point field of ``_FRACTION_BITS`` binary places in its
    own ``width`` bits: adding two packed integers adds every field at once, exactly. A message
    is then one dict lookup per distinct feature and one ``sum`` of integers (both in C), and
    the fields are unpacked once: the squared norm and the unnormalised logits. A feature that
    occurs ``n > 1`` times weighs ``1 + log n`` (scikit-learn's sublinear tf): those are summed
    apart, by ``n``, and scaled after unpacking. The result equals the exported model's to the
    last bits of a double (the fields are exact; only the packing rounds, by 2⁻⁵³ a number).
    """

    _FRACTION_BITS = 52
    _HEADROOM_BITS = 20  # room for the sum of a million features in every field

    def __init__(self, artifact: NLUArtifact) -> None:
        heads = (artifact.intent, artifact.department, artifact.urgent)
        self._sizes = [len(h.intercept) for h in heads]
        idf = artifact.space.idf
        coef = np.hstack([h.coef_t for h in heads]) * idf[:, None]
        fields = np.hstack([(idf * idf)[:, None], coef])
        biggest = float(np.abs(fields).max()) if fields.size else 0.0
        scale = 1 << self._FRACTION_BITS
        width = self._FRACTION_BITS + max(1, math.ceil(math.log2(biggest + 1))) + 1
        self._width = width + self._HEADROOM_BITS
        self._n_fields = fields.shape[1]
        # Adding half a field's range to every field makes every field of a sum non-negative,
        # so each one unpacks on its own by a shift and a mask (no borrow from the next).
        self._half = 1 << (self._width - 1)
        self._bias = self._pack([self._half] * self._n_fields)
        self._shifts = [self._width * i for i in range(self._n_fields)]
        packed = [self._pack([round(v * scale) for v in row]) for row in fields.tolist()]
        self._words: dict[str, int] = {}
        self._grams: dict[str, int] = {}
        for feature, col in artifact.space.vocabulary.items():
            kind, _, key = feature.partition(":")
            table = self._words if kind == "w" else self._grams if kind == "c" else None
            if table is not None:
                table[key] = packed[col]
        self._intercept: list[float] = np.concatenate([h.intercept for h in heads]).tolist()

    def _pack(self, ints: Sequence[int]) -> int:
        total = 0
        for i, q in enumerate(ints):
            total += q << (self._width * i)
        return total

    def _unpack(self, total: int) -> list[float]:
        biased = total + self._bias
        mask = (1 << self._width) - 1
        half = self._half
        scale = float(1 << self._FRACTION_BITS)
        return [(((biased >> shift) & mask) - half) / scale for shift in self._shifts]

    def logits(self, text: str) -> _Logits:
        words, grams = feature_parts(text)
        total = 0
        repeated: dict[int, int] = {}  # n → the packed sum of the features seen n times
        for keys, table in ((words, self._words), (grams, self._grams)):
            counts = Counter(keys)
            packed = list(map(table.get, counts))
            total += sum(filter(None, packed))
            if len(counts) < len(keys):  # some feature occurs more than once
                ns = counts.values()
                for p, n in compress(zip(packed, ns, strict=True), map((1).__lt__, ns)):
                    if p:
                        repeated[n] = repeated.get(n, 0) + p
        fields = self._unpack(total)
        for n, packed in repeated.items():
            # Counted once above; a feature seen n times weighs tf = 1 + log n instead.
            extra = math.log(n)
            more = self._unpack(packed)
            norm2 = fields[0] + (2.0 * extra + extra * extra) * more[0]
            fields = [f + extra * m for f, m in zip(fields, more, strict=True)]
            fields[0] = norm2
        norm2 = fields[0]
        if norm2 > 0:
            inv = 1.0 / math.sqrt(norm2)
            z = [s * inv + b for s, b in zip(fields[1:], self._intercept, strict=True)]
        else:
            z = list(self._intercept)
        n_int, n_dep, _ = self._sizes
        return z[:n_int], z[n_int : n_int + n_dep], z[n_int + n_dep :]


def _featurize_simplified(text: str) -> list[str]:
    # FAQ questions and owners' queries are read like any message: Traditional as Simplified.
    return featurize(to_simplified(text))
