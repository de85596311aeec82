"""A tiny labelled corpus, written for the tests, to train throw-away models on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.nlu import DEFAULT_CORPUS_DIR

# (text, intent, urgent, department)
TINY: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "zh_repair.jsonl": [
        ("厨房水管漏水了 麻烦派人来修", "repair", False, "engineering"),
        ("马桶堵了 冲不下去", "repair", False, "engineering"),
        ("卫生间地漏堵了 水下不去", "repair", False, "engineering"),
        ("3号楼电梯不动了", "repair", False, "engineering"),
        ("楼道灯坏了 晚上很黑", "repair", False, "engineering"),
        ("门禁卡刷不开单元门", "repair", False, "engineering"),
        ("家里跳闸了 推不上去", "repair", False, "engineering"),
        ("水龙头坏了 关不紧", "repair", False, "engineering"),
        ("空调漏水 滴到地板上", "repair", False, "engineering"),
        ("水管爆了 水喷得到处都是 快来", "repair", True, "engineering"),
        ("电梯困人了 里面有小孩", "repair", True, "engineering"),
        ("厨房有很浓的煤气味 快来人", "repair", True, "engineering"),
        ("楼道垃圾没人收 臭死了", "repair", False, "cleaning"),
        ("楼道很脏 好几天没打扫了", "repair", False, "cleaning"),
        ("树枝断了挂在路上", "repair", False, "greening"),
        ("草坪的树倒了 挡住路了", "repair", False, "greening"),
    ],
    "zh_complaint.jsonl": [
        ("楼上每天半夜装修 吵得睡不着", "complaint", False, "security"),
        ("有人乱停车 堵住了消防通道", "complaint", False, "security"),
        ("保安态度太差了 说话很凶", "complaint", False, "customer_service"),
        ("客服电话一直没人接 太差了", "complaint", False, "customer_service"),
        ("报修一个星期了没人来 你们怎么回事", "complaint", False, "engineering"),
        ("修了又坏 师傅修得不行", "complaint", False, "engineering"),
        ("邻居的狗天天叫 吵死了", "complaint", False, "customer_service"),
        ("楼下夜里唱歌 太吵了", "complaint", False, "security"),
        ("垃圾房太臭了 投诉很多次了", "complaint", False, "cleaning"),
        ("保洁阿姨从来不拖楼道", "complaint", False, "cleaning"),
        ("有人在打架 快叫保安", "complaint", True, "security"),
        ("物业费涨价太不合理了", "complaint", False, "customer_service"),
    ],
    "zh_enquiry.jsonl": [
        ("物业办公室几点上班", "enquiry", False, None),
        ("明天停水吗 几点恢复", "enquiry", False, None),
        ("装修需要办什么手续", "enquiry", False, None),
        ("游泳池开放了吗", "enquiry", False, None),
        ("快递放在哪里取", "enquiry", False, None),
        ("门禁卡怎么办理", "enquiry", False, None),
        ("停车证在哪里办", "enquiry", False, None),
        ("周末客服中心上班吗", "enquiry", False, None),
        ("小区有什么活动吗", "enquiry", False, None),
        ("请问装修时间是几点到几点", "enquiry", False, None),
    ],
    "zh_payment.jsonl": [
        ("物业费怎么交", "payment", False, None),
        ("物业费可以微信支付吗", "payment", False, None),
        ("我家欠费多少", "payment", False, None),
        ("停车费一个月多少钱 怎么交", "payment", False, None),
        ("交了物业费能开发票吗", "payment", False, None),
        ("电费在哪里充值", "payment", False, None),
        ("滞纳金怎么算的", "payment", False, None),
        ("帮我查一下物业费交到几月了", "payment", False, None),
        ("水费账单在哪看", "payment", False, None),
        ("缴费记录怎么查", "payment", False, None),
    ],
    "zh_other.jsonl": [
        ("谢谢师傅", "other", False, None),
        ("好的 谢谢", "other", False, None),
        ("大家早上好", "other", False, None),
        ("有人一起拼车去机场吗", "other", False, None),
        ("团购水果 需要的接龙", "other", False, None),
        ("哈哈哈 太好笑了", "other", False, None),
        ("辛苦了 物业小哥", "other", False, None),
        ("今天天气真好", "other", False, None),
        ("新年快乐", "other", False, None),
        ("收到 谢谢", "other", False, None),
    ],
    "en_mixed.jsonl": [
        ("the kitchen tap is leaking, please fix", "repair", False, "engineering"),
        ("toilet is blocked, can someone come", "repair", False, "engineering"),
        ("lift in building 3 is broken", "repair", False, "engineering"),
        ("water pouring through the ceiling, send someone now", "repair", True, "engineering"),
        ("neighbours are too noisy every night", "complaint", False, "security"),
        ("the guard was rude to me", "complaint", False, "customer_service"),
        ("what are the office hours", "enquiry", False, None),
        ("is the pool open this weekend", "enquiry", False, None),
        ("how do I pay the property fee", "payment", False, None),
        ("can I get an invoice for the management fee", "payment", False, None),
        ("thanks a lot", "other", False, None),
        ("good morning everyone", "other", False, None),
    ],
}


def corpus_texts() -> list[str]:
    """Every message of the package's training corpus, in file order."""
    return [
        json.loads(line)["text"]
        for path in sorted(Path(DEFAULT_CORPUS_DIR).glob("*.jsonl"))
        for line in path.open(encoding="utf-8")
        if line.strip()
    ]


def write_corpus(directory: Path, extra: dict[str, list[tuple]] | None = None) -> Path:
    """Write the tiny corpus (plus ``extra`` lines) as JSONL files into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {k: list(v) for k, v in TINY.items()}
    for name, rows in (extra or {}).items():
        files.setdefault(name, []).extend(rows)
    for name, rows in files.items():
        with (directory / name).open("w", encoding="utf-8") as f:
            for text, intent, urgent, dept in rows:
                obj = {
                    "text": text,
                    "lang": "zh",
                    "intent": intent,
                    "urgent": urgent,
                    "department": dept,
                    "unit": None,
                }
                f.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return directory


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")
