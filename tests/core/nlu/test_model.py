"""The NLU end to end on a tiny corpus: train → load → predict, retraining, determinism."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

import bot.core.nlu as nlu_pkg
import bot.core.nlu.model as model_mod
from bot.core.i18n import Catalogues
from bot.core.nlu import DEPARTMENTS, INTENTS, NLU, Location, Understanding, Unit, train_model
from bot.core.nlu.model import MODEL_VERSION, fingerprint, load_artifact
from bot.core.nlu.train import TRAIN_STAGES

from .conftest import write_corpus

PROBES = [
    "卫生间水管漏水了 快来修",
    "物业费怎么交 可以微信吗",
    "物业办公室周末几点上班",
    "楼上半夜装修太吵了 投诉",
    "谢谢大家 早上好",
    "3栋2单元501 马桶堵了",
    "the toilet is blocked",
    "how do I pay the property fee online",
]


def test_train_load_predict(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.pkl"
    report = train_model(tiny_corpus, out)
    assert out.is_file()
    assert report["rows"] == sum(1 for _ in tiny_corpus.glob("*.jsonl") for _ in _.open())
    assert report["intents"]["repair"] == 20
    assert report["model_version"] == MODEL_VERSION
    assert "intent_macro_f1" in report["cv"]
    assert isinstance(report["train_seconds"], float)

    nlu = NLU.load(out, corpus_dir=tiny_corpus)
    assert nlu.fingerprint == fingerprint(tiny_corpus)

    u = nlu.understand("厨房水管漏水了 麻烦快点来修")
    assert u.intent == "repair"
    assert u.department == "engineering"
    assert nlu.understand("物业费可以用微信交吗").intent == "payment"
    assert nlu.understand("物业办公室几点上班").intent == "enquiry"
    assert nlu.understand("谢谢 大家早上好").intent == "other"
    complaint = nlu.understand("楼上每天半夜装修 太吵了")
    assert complaint.intent == "complaint"
    assert complaint.department in DEPARTMENTS


def test_understanding_fields(tiny_corpus: Path, tmp_path: Path) -> None:
    nlu = NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)
    u = nlu.understand("3栋2单元501 马桶堵了 水漫出来了")
    assert isinstance(u, Understanding)
    assert u.unit == Unit("3", "2", "501")
    assert u.lang == "zh"
    assert set(u.scores) == set(INTENTS)
    assert sum(u.scores.values()) == pytest.approx(1.0, abs=1e-6)
    assert u.confidence == pytest.approx(max(u.scores.values()))
    assert u.scores[u.intent] == max(u.scores.values())
    assert 0.0 < u.confidence <= 1.0
    j = u.to_json()
    assert set(j) == {"intent", "confidence", "urgent", "department", "unit", "lang", "location"}
    assert j["unit"] == {"building": "3", "entrance": "2", "room": "501"}
    if u.intent in ("repair", "complaint"):
        assert j["location"] == {"unit": j["unit"]}
    json.dumps(j)  # serialisable

    for text in ["物业费怎么交", "物业办公室几点上班", "谢谢师傅"]:
        v = nlu.understand(text)
        assert v.intent in ("payment", "enquiry", "other")
        assert v.department is None


def test_urgent_combines_rules_and_model(tiny_corpus: Path, tmp_path: Path) -> None:
    nlu = NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)
    assert nlu.understand("水管爆了 水喷得到处都是 快来人").urgent is True
    assert nlu.understand("电梯困人了 我孩子在里面").urgent is True
    assert nlu.understand("water pouring through the ceiling, send someone now").urgent is True
    assert nlu.understand("物业费怎么交").urgent is False
    assert nlu.understand("楼道灯坏了").urgent is False


def test_empty_and_whitespace(tiny_corpus: Path, tmp_path: Path) -> None:
    nlu = NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)
    for text in ["", "   ", "\n\t"]:
        u = nlu.understand(text)
        assert (u.intent, u.confidence, u.urgent, u.department, u.unit) == (
            "other",
            1.0,
            False,
            None,
            None,
        )
        assert u.scores["other"] == 1.0
    # punctuation or emoji only: no crash, a valid answer
    for text in ["？？？", "👍", "..."]:
        assert nlu.understand(text).intent in INTENTS


def test_huge_input_does_not_hang(tiny_corpus: Path, tmp_path: Path) -> None:
    nlu = NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)
    huge = "3栋2单元501 厨房水管漏水 " + "漏水了快来修" * 20_000  # > 100k characters
    assert len(huge) > 100_000
    u = nlu.understand(huge)
    assert u.intent == "repair"
    assert u.unit == Unit("3", "2", "501")
    for text in ("x" * 100_000, "好" * 100_000):
        assert nlu.understand(text).intent in INTENTS


def test_understand_many_matches_understand(tiny_corpus: Path, tmp_path: Path) -> None:
    nlu = NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)
    texts = [*PROBES, "", "  ", "👍"]
    batch = nlu.understand_many(texts)
    assert len(batch) == len(texts)
    for text, b in zip(texts, batch, strict=True):
        one = nlu.understand(text)
        assert one.to_json() == b.to_json()
        for k in INTENTS:
            assert one.scores[k] == pytest.approx(b.scores[k], abs=1e-9)
    assert nlu.understand_many([]) == []


def test_loads_without_retraining(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m.pkl"
    train_model(tiny_corpus, out)

    def boom(*_: object, **__: object) -> None:
        raise AssertionError("must not retrain")

    monkeypatch.setattr(nlu_pkg, "train_artifact", boom)
    assert NLU.load(out, corpus_dir=tiny_corpus).understand("马桶堵了").intent == "repair"


def test_fingerprint_change_triggers_retrain(
    tiny_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "m.pkl"
    first = NLU.load(out, corpus_dir=tiny_corpus)
    old_fp = first.fingerprint
    assert load_artifact(out) is not None

    # the corpus grows: the artifact is stale and is retrained (and logged at INFO)
    with (tiny_corpus / "zh_payment.jsonl").open("a", encoding="utf-8") as f:
        row = {
            "text": "车位管理费怎么交",
            "lang": "zh",
            "intent": "payment",
            "urgent": False,
            "department": None,
            "unit": None,
        }
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with caplog.at_level(logging.INFO, logger="bot.core.nlu"):
        second = NLU.load(out, corpus_dir=tiny_corpus)
    assert second.fingerprint != old_fp
    assert second.fingerprint == fingerprint(tiny_corpus)
    assert any("training" in r.getMessage() for r in caplog.records)
    assert second.report["rows"] == first.report["rows"] + 1
    saved = load_artifact(out)
    assert saved is not None and saved.fingerprint == second.fingerprint

    # a new file counts too
    write_corpus(tiny_corpus, {"en_more.jsonl": [("hello there", "other", False, None)]})
    assert NLU.load(out, corpus_dir=tiny_corpus).fingerprint != second.fingerprint


def test_a_new_feature_version_makes_the_artifact_stale(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m.pkl"
    first = NLU.load(out, corpus_dir=tiny_corpus)
    monkeypatch.setattr(model_mod, "FEATURE_VERSION", "features-next")
    assert fingerprint(tiny_corpus) != first.fingerprint
    second = NLU.load(out, corpus_dir=tiny_corpus)  # retrained, as `guanjia nlu train --if-stale`
    assert second.fingerprint == fingerprint(tiny_corpus) != first.fingerprint


def test_traditional_chinese_is_understood_like_simplified(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    nlu = NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)
    traditional = nlu.understand("廚房水龍頭漏水 8棟2單元1103")
    simplified = nlu.understand("厨房水龙头漏水 8栋2单元1103")
    assert traditional == simplified
    assert traditional.to_json() == simplified.to_json()
    assert traditional.intent == "repair" and traditional.department == "engineering"
    assert traditional.unit == Unit("8", "2", "1103")
    assert traditional.location == Location(unit=Unit("8", "2", "1103"))
    assert traditional.lang == "zh"
    # the urgency lexicon reads it too
    assert nlu.understand("水管爆了 水噴得到處都是 快來").urgent is True
    # and a batch converts each message
    batch = nlu.understand_many(["電梯壞了 12棟", "电梯坏了 12栋"])
    assert batch[0] == batch[1]
    assert batch[0].location == Location(building="12", place="lift")


def test_only_repairs_and_complaints_have_a_location(tiny_corpus: Path, tmp_path: Path) -> None:
    nlu = NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)
    for text in ["物业费怎么交 我是3栋2单元501", "游泳池开放了吗", "谢谢师傅"]:
        u = nlu.understand(text)
        assert u.intent not in ("repair", "complaint")
        assert u.location is None and u.to_json()["location"] is None
    lift = nlu.understand("3号楼电梯不动了")
    assert lift.intent == "repair" and lift.unit is None
    assert lift.to_json()["location"] == {"building": "3", "place": "lift"}


def test_corrupt_or_foreign_artifact_is_retrained(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pkl"
    out.write_bytes(b"not a pickle")
    assert NLU.load(out, corpus_dir=tiny_corpus).understand("马桶堵了").intent == "repair"
    assert load_artifact(out) is not None
    out.write_bytes(pickle.dumps({"something": "else"}))
    assert load_artifact(out) is None
    NLU.load(out, corpus_dir=tiny_corpus)
    assert load_artifact(out) is not None


def test_no_model_and_no_corpus(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        NLU.load(tmp_path / "missing.pkl", corpus_dir=tmp_path / "empty")


def test_artifact_without_corpus_is_used(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pkl"
    train_model(tiny_corpus, out)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert NLU.load(out, corpus_dir=empty).understand("马桶堵了").intent == "repair"


def test_training_is_deterministic(tiny_corpus: Path, tmp_path: Path) -> None:
    a = NLU.load(tmp_path / "a.pkl", corpus_dir=tiny_corpus)
    b = NLU.load(tmp_path / "b.pkl", corpus_dir=tiny_corpus)
    assert a.fingerprint == b.fingerprint
    for head in ("intent", "department", "urgent"):
        np.testing.assert_array_equal(
            getattr(a.artifact, head).coef_t, getattr(b.artifact, head).coef_t
        )
    ua = a.understand_many(PROBES)
    ub = b.understand_many(PROBES)
    assert [u.to_json() for u in ua] == [u.to_json() for u in ub]
    assert [dict(u.scores) for u in ua] == [dict(u.scores) for u in ub]


def test_default_paths(tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    nlu = NLU.load(corpus_dir=tiny_corpus)
    assert (tmp_path / "data" / "nlu" / "model.pkl").is_file()
    assert nlu.understand("马桶堵了").intent == "repair"
    assert nlu_pkg.DEFAULT_CORPUS_DIR.name == "corpus"


def test_failed_retrain_keeps_previous_model(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pkl"
    first = NLU.load(out, corpus_dir=tiny_corpus)
    # the corpus now holds a single intent: training is impossible, the old model stays
    for path in tiny_corpus.glob("*.jsonl"):
        path.unlink()
    write_corpus(tiny_corpus / "one", None)  # nested: not read
    (tiny_corpus / "only.jsonl").write_text(
        json.dumps(
            {
                "text": "谢谢",
                "lang": "zh",
                "intent": "other",
                "urgent": False,
                "department": None,
                "unit": None,
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    again = NLU.load(out, corpus_dir=tiny_corpus)
    assert again.fingerprint == first.fingerprint
    with pytest.raises(ValueError):
        NLU.load(tmp_path / "other.pkl", corpus_dir=tiny_corpus)


def test_the_urgency_policy_reaches_recall_first_and_states_precision_at_the_base_rate() -> None:
    """Half of these lines are urgent; real traffic has URGENT_BASE_RATE. Catching both urgent
    lines costs one false alarm, whose weight is that of the many ordinary messages."""
    from bot.core.nlu.train import URGENT_BASE_RATE, _urgent_policy

    p = np.array([0.9, 0.6, 0.7, 0.05])
    y = [True, True, False, False]
    threshold, _, _, stats = _urgent_policy(p, [False] * 4, np.ones(4), y)

    assert 0.05 < threshold <= 0.6  # both urgent lines, and not the last ordinary one
    assert stats["recall"] == 1.0
    true_alarms = 2 * URGENT_BASE_RATE / 0.5
    false_alarm = 1 * (1 - URGENT_BASE_RATE) / 0.5
    assert stats["precision"] == round(true_alarms / (true_alarms + false_alarm), 4)


def test_a_lexicon_kind_whose_hints_are_often_wrong_gets_a_higher_floor() -> None:
    """Water hints here are mostly wrong unless the classifier is fairly sure; outage hints are
    always right: water gets its own higher floor, outage keeps the shared one."""
    from bot.core.nlu.train import _urgent_policy

    water_right, water_wrong, outage_right = [0.6], [0.4, 0.4, 0.4], [0.4] * 4
    plain = [0.05] * 40  # ordinary messages, no hint
    p = np.array(water_right + water_wrong + outage_right + plain)
    y = [True] + [False] * 3 + [True] * 4 + [False] * 40
    kinds = [("water",)] * 4 + [("outage",)] * 4 + [()] * 40
    _, floor, _, stats = _urgent_policy(
        p, [bool(k) for k in kinds], np.ones(len(p)), y, None, kinds
    )

    assert floor < 0.4 <= stats["kind_floors"]["water"] < 0.6
    assert "outage" not in stats["kind_floors"]
    assert stats["recall"] == 1.0 and stats["precision"] == 1.0


def test_the_plain_python_scores_are_the_exported_models(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """One message is scored without numpy; the probabilities are the exported model's (numpy
    over the same TF-IDF vector) to the last bits of a double, for repeated features too."""
    nlu = NLU.load(tmp_path / "m.pkl", corpus_dir=tiny_corpus)
    art = nlu.artifact
    texts = [
        *PROBES,
        "漏水漏水漏水 漏水了 快来快来",
        "电梯 电梯 电梯",
        "谢谢谢谢",
        "no match at all ⌘",
    ]
    for text in texts:
        cols, weights = art.space.sparse(nlu_pkg.featurize(text))
        expected = art.intent.proba(cols, weights)
        got = nlu.understand(text).scores
        for cls, p in zip(art.intent.classes, expected, strict=True):
            assert got[cls] == pytest.approx(float(p), abs=1e-12), (text, cls)


def test_training_names_each_stage_as_it_begins(tiny_corpus: Path, tmp_path: Path) -> None:
    stages: list[str] = []
    train_model(tiny_corpus, tmp_path / "model.pkl", progress=stages.append)
    assert stages == list(TRAIN_STAGES)
    catalogues = Catalogues()  # each language has the bar's words for each stage
    for lang in ("zh", "en"):
        assert {f"progress.nlu.{stage}" for stage in TRAIN_STAGES} <= catalogues.keys(lang)
