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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .faq import DEFAULT_FAQ_THRESHOLD, FaqIndex, faq_features
from .features import featurize
from .hanzi import to_simplified
from .lang import detect_lang
from .location import PLACES, Location, find_location
from .model import NLUArtifact, fingerprint, load_artifact, read_corpus_bytes, save_artifact
from .segment import tokenizer
from .train import train_artifact, train_model
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
        space = artifact.space
        self._space = space
        self._intent = artifact.intent
        self._dept = artifact.department
        self._urgent = artifact.urgent
        n_int = len(self._intent.classes)
        n_dep = len(self._dept.classes)
        # One matrix for the three heads: a batch needs a single gather.
        self._coef = np.ascontiguousarray(
            np.hstack([self._intent.coef_t, self._dept.coef_t, self._urgent.coef_t])
        )
        self._intercept = np.concatenate(
            [self._intent.intercept, self._dept.intercept, self._urgent.intercept]
        )
        self._slices = (slice(0, n_int), slice(n_int, n_int + n_dep), slice(n_int + n_dep, None))
        tokenizer()  # initialise jieba now, not on the first message

    @property
    def fingerprint(self) -> str:
        return self.artifact.fingerprint

    @property
    def report(self) -> Mapping[str, object]:
        """The training report saved with the artifact (counts, cross-validation scores)."""
        return self.artifact.report

    @classmethod
    def load(cls, model_path: Path | None = None, *, corpus_dir: Path | None = None) -> NLU:
        """Load the artifact, training (and saving) it first if it is missing or stale.

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
            fresh = train_artifact(corpus_dir)
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
        return self.understand_many([text])[0]

    def understand_many(self, texts: Sequence[str]) -> list[Understanding]:
        """Understand a batch of messages (one matrix product for all of them)."""
        # Traditional Chinese becomes Simplified here, once, for every rule and feature below.
        texts = [to_simplified(t) if isinstance(t, str) else "" for t in texts]
        cols_list: list[np.ndarray] = []
        weights_list: list[np.ndarray] = []
        for text in texts:
            cols, weights = self._space.sparse(featurize(text[:MAX_TEXT_CHARS]))
            cols_list.append(cols)
            weights_list.append(weights)
        logits = np.tile(self._intercept, (len(texts), 1))
        lengths = np.array([c.size for c in cols_list], dtype=np.int64)
        nonempty = np.flatnonzero(lengths)
        if nonempty.size:
            cols = np.concatenate([cols_list[i] for i in nonempty])
            weights = np.concatenate([weights_list[i] for i in nonempty])
            starts = np.concatenate([[0], np.cumsum(lengths[nonempty])[:-1]])
            logits[nonempty] += np.add.reduceat(self._coef[cols] * weights[:, None], starts)
        return [self._decide(text, logits[i]) for i, text in enumerate(texts)]

    def _decide(self, text: str, logits: np.ndarray) -> Understanding:
        if not text.strip():
            scores = {c: (1.0 if c == "other" else 0.0) for c in INTENTS}
            return Understanding("other", 1.0, False, None, None, detect_lang(text), scores)
        s_int, s_dep, s_urg = self._slices
        z = logits[s_int] / self._intent.temperature
        z = np.exp(z - z.max())
        p_int = z / z.sum()
        scores = {c: float(p) for c, p in zip(self._intent.classes, p_int, strict=True)}
        best = int(np.argmax(p_int))
        intent = self._intent.classes[best]
        confidence = float(p_int[best])
        head = text[:MAX_TEXT_CHARS]
        p_urgent = float(1.0 / (1.0 + np.exp(-float(logits[s_urg][0]))))
        art = self.artifact
        actionable = scores.get("repair", 0.0) + scores.get("complaint", 0.0)
        asking = scores.get("enquiry", 0.0) + scores.get("payment", 0.0)
        # Soft signals only matter when the classifier does not rule the message out.
        floors = getattr(art, "urgent_kind_floors", None) or {}
        lowest = min([art.urgent_rule_floor, *floors.values()])
        signals = scan(head, soft=p_urgent >= lowest)
        if signals.hard and asking < art.urgent_hard_gate:
            urgent = True
        else:
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
            department = self._dept.classes[int(np.argmax(logits[s_dep]))]
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


def _featurize_simplified(text: str) -> list[str]:
    # FAQ questions and owners' queries are read like any message: Traditional as Simplified.
    return featurize(to_simplified(text))
