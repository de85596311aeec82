"""The trained NLU artifact and its fast, scikit-learn-free predictor.

Training (``train.py``) fits scikit-learn models over TF-IDF features (``features.py``) and
exports them here as plain numpy arrays: the vocabulary, the idf weights and, per task, the
linear model's coefficients. Prediction then needs neither scikit-learn nor scipy, so loading
an artifact in a fresh process is quick and one message costs a few dozen microseconds after
segmentation. The TF-IDF transform reproduces scikit-learn's (``sublinear_tf``, l2 norm)
exactly, so the exported model predicts what the fitted one did.

The artifact is one pickle holding a :class:`NLUArtifact` with a ``fingerprint``: the sha256 of
the corpus files' contents, the domain dictionary, :data:`MODEL_VERSION` and
``features.FEATURE_VERSION`` (plus the source of the training modules). A different fingerprint
means the artifact is stale and must be retrained.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .features import FEATURE_VERSION
from .segment import USERDICT_PATH

__all__ = [
    "MODEL_VERSION",
    "FeatureSpace",
    "LinearHead",
    "NLUArtifact",
    "corpus_files",
    "fingerprint",
    "fingerprint_of",
    "load_artifact",
    "read_corpus_bytes",
    "save_artifact",
]

MODEL_VERSION = "guanjia-nlu-8"


@dataclass
class FeatureSpace:
    """A TF-IDF space: feature string → column, and each column's idf."""

    vocabulary: dict[str, int]
    idf: np.ndarray  # float64, shape (n_features,)
    default_idf: float = 0.0  # used only by the FAQ index for features unseen in training

    def vector(self, feats: Iterable[str], *, keep_unseen: bool = False) -> dict[int | str, float]:
        """Return the l2-normalised sublinear TF-IDF vector as {column (or feature): weight}."""
        counts = Counter(feats)
        vocab = self.vocabulary
        idf = self._idf_list
        log = math.log
        vec: dict[int | str, float] = {}
        for f, n in counts.items():
            col = vocab.get(f)
            if col is not None:
                vec[col] = (1.0 + log(n)) * idf[col] if n > 1 else idf[col]
            elif keep_unseen and self.default_idf > 0:
                vec[f] = (1.0 + log(n)) * self.default_idf
        norm = math.sqrt(sum(w * w for w in vec.values()))
        if norm > 0:
            inv = 1.0 / norm
            vec = {k: w * inv for k, w in vec.items()}
        return vec

    @property
    def _idf_list(self) -> list[float]:
        cached = self.__dict__.get("_idf_cache")
        if cached is None:
            cached = [float(v) for v in self.idf]
            self.__dict__["_idf_cache"] = cached
        return cached

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_idf_cache", None)
        return state

    def sparse(self, feats: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return (columns, weights) of the TF-IDF vector, for a linear head."""
        get = self.vocabulary.get
        found = np.fromiter((get(f, -1) for f in feats), dtype=np.int64, count=len(feats))
        found = found[found >= 0]
        if found.size == 0:
            return found, np.zeros(0)
        cols, counts = np.unique(found, return_counts=True)
        weights = (1.0 + np.log(counts)) * self.idf[cols]
        weights /= np.sqrt(np.dot(weights, weights))
        return cols, weights


@dataclass
class LinearHead:
    """A linear classifier exported from scikit-learn: scores = x·coefᵀ + intercept.

    ``coef_t`` is stored transposed (n_features × n_outputs) so one message's scores are a
    gather of a few rows. Binary models have one output (the positive class logit).
    ``temperature`` rescales logits before the softmax (fitted on out-of-fold predictions so
    that probabilities are calibrated).
    """

    classes: tuple[str, ...]
    coef_t: np.ndarray
    intercept: np.ndarray
    temperature: float = 1.0

    def logits(self, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        if cols.size == 0:
            return self.intercept.astype(np.float64).copy()
        return weights @ self.coef_t[cols] + self.intercept

    def proba(self, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Probabilities over ``classes`` (for a binary head: [P(neg), P(pos)])."""
        z = self.logits(cols, weights) / self.temperature
        if z.shape[0] == 1:
            p = 1.0 / (1.0 + math.exp(-float(z[0])))
            return np.array([1.0 - p, p])
        z = z - z.max()
        e = np.exp(z)
        return e / e.sum()


@dataclass
class NLUArtifact:
    """Everything the NLU needs at run time, saved as one pickle."""

    fingerprint: str
    version: str
    space: FeatureSpace
    intent: LinearHead
    department: LinearHead
    urgent: LinearHead
    urgent_threshold: float
    urgent_rule_floor: float
    urgent_gate: float = 0.0  # P(repair) + P(complaint) below this: the classifier's urgency off
    # P(enquiry) + P(payment) at least this: even a hard lexicon signal does not count
    urgent_hard_gate: float = 0.9
    report: dict[str, object] = field(default_factory=dict)
    # A lexicon kind whose hints are weaker needs more of the classifier's agreement: its own
    # floor in place of urgent_rule_floor (chosen on cross-validation, kind by kind).
    urgent_kind_floors: dict[str, float] = field(default_factory=dict)


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The corpus files, sorted by name."""
    return sorted(p for p in Path(corpus_dir).glob("*.jsonl") if p.is_file())


def read_corpus_bytes(corpus_dir: Path) -> list[tuple[str, bytes]]:
    """(name, contents) of every corpus file, sorted by name; read once, used twice."""
    return [(p.name, p.read_bytes()) for p in corpus_files(corpus_dir)]


# The modules and data files that decide what a trained artifact contains (the urgency policy
# is chosen with the lexicon's signals): editing one of them makes existing artifacts stale even
# if MODEL_VERSION was not bumped.
_TRAINING_SOURCES = (
    "features.py",
    "hanzi.py",
    "segment.py",
    "train.py",
    "urgency.py",
    "urgency_lexicon.py",
    "urgency_zh.toml",
    "urgency_en.toml",
    "regex_text.py",
    "model.py",
)


def fingerprint_of(contents: Sequence[tuple[str, bytes]]) -> str:
    """sha256 over the model and feature versions, the dictionary and the corpus files.

    The source of the training modules is hashed in too, so a change of features or rules
    retrains even when MODEL_VERSION was not bumped.
    """
    h = hashlib.sha256()
    h.update(MODEL_VERSION.encode())
    h.update(b"\0features\0" + FEATURE_VERSION.encode())
    h.update(b"\0userdict\0")
    h.update(USERDICT_PATH.read_bytes())
    here = Path(__file__).parent
    for name in _TRAINING_SOURCES:
        source = here / name
        if source.is_file():
            h.update(b"\0source\0" + name.encode() + b"\0" + source.read_bytes())
    for name, data in contents:
        h.update(b"\0file\0" + name.encode() + b"\0")
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


def fingerprint(corpus_dir: Path) -> str:
    """The fingerprint of the corpus on disk now."""
    return fingerprint_of(read_corpus_bytes(corpus_dir))


def save_artifact(artifact: NLUArtifact, path: Path) -> None:
    """Write the artifact atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        pickle.dump(artifact, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def load_artifact(path: Path) -> NLUArtifact | None:
    """Load an artifact; None if it is missing, unreadable or of another MODEL_VERSION."""
    try:
        with Path(path).open("rb") as f:
            obj = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        return None
    if not isinstance(obj, NLUArtifact) or obj.version != MODEL_VERSION:
        return None
    return obj
