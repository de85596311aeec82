"""Language detection: zh, en, mixed — units, mentions and loanwords don't make a text mixed."""

from __future__ import annotations

import pytest

from bot.core.nlu.lang import detect_lang

CASES = [
    ("厨房水管漏水", "zh"),
    ("5栋1单元1202 马桶堵了，能上门吗", "zh"),
    ("B座1202室漏水", "zh"),
    ("@管家 物业费怎么交", "zh"),
    ("我老公说他已经交了 为啥我这边app还显示欠费", "zh"),
    ("楼下KTV一样吵，物业也不管", "zh"),
    ("小区WiFi密码是多少", "zh"),
    ("发票麻烦发我邮箱 wangli88@163.com", "zh"),
    ("点击链接领取 http://t.cn/xxxx", "zh"),
    ("👍👍", "zh"),
    ("666", "zh"),
    ("The corridor light on floor 12 is out", "en"),
    ("Tower 2 Unit 1502 water is pouring through the ceiling", "en"),
    ("B座1202 the doorbell is broken", "en"),
    ("D栋606 front door doesn't close properly", "en"),
    ("@管家 can I pay the parking fee online?", "en"),
    ("hi @物业 the lift in 5号楼 is stuck", "en"),
    ("3-2-801 tap water pressure super low", "en"),
    ("请问 invoice 抬头和税号发给谁", "mixed"),
    ("我家的 toilet 堵了，can someone come fix?", "mixed"),
    ("can I pay 物业费 by Alipay?", "mixed"),
    ("the 快递柜 screen is black", "mixed"),
    ("电梯又broken了", "mixed"),
    ("ok 收到", "mixed"),
    # an English unit in Chinese text: mixed, which replies in Chinese anyway
    ("Tower 3 Unit 801 的管理费怎么交", "mixed"),
]


@pytest.mark.parametrize(("text", "lang"), CASES)
def test_detect_lang(text: str, lang: str) -> None:
    assert detect_lang(text) == lang


def test_empty_and_huge() -> None:
    assert detect_lang("") == "zh"
    assert detect_lang("   ") == "zh"
    assert detect_lang("water " * 100_000) == "en"
