"""Where the reported problem is (LABELS.md, "Location"): each rule on examples written for it."""

from __future__ import annotations

import pytest

from bot.core.nlu import location as location_mod
from bot.core.nlu.hanzi import to_simplified
from bot.core.nlu.location import PLACES, Location, compile_lexicon, find_location
from bot.core.nlu.units import Unit, scan_units

R, C = "repair", "complaint"


def locate(text: str, intent: str) -> str:
    """The location as a short string: ``U:3/2/501``, ``lift/5``, ``lift/None`` or ``NULL``."""
    simplified = to_simplified(text)
    scanned = scan_units(simplified)
    loc = find_location(simplified, intent, scanned.unit, scanned=scanned)
    if loc is None:
        return "NULL"
    if loc.unit is not None:
        u = loc.unit
        return f"U:{u.building}/{u.entrance}/{u.room}"
    return f"{loc.place}/{loc.building}"


def check(cases: list[tuple[str, str, str]]) -> None:
    wrong = [(text, want, got) for text, i, want in cases if (got := locate(text, i)) != want]
    assert not wrong, "\n".join(f"{t!r}: want {w}, got {g}" for t, w, g in wrong)


def test_the_examples_of_the_brief() -> None:
    check(
        [
            ("2号楼电梯困人了", R, "lift/2"),
            ("9号楼电梯困人了，里面有老人", R, "lift/9"),
            ("5号楼电梯困人了，快来", R, "lift/5"),  # a bound owner's text: no unit
            ("3栋2单元501 厨房水管漏水了", R, "U:3/2/501"),
            ("卫生间天花板在漏水", R, "NULL"),  # the flat is not named
            ("Block 3 #05-01 kitchen pipe leaking", R, "U:3/None/05-01"),
            ("廚房水龍頭漏水 8棟2單元1103", R, "U:8/2/1103"),
            ("楼上1502天天半夜剁肉…8栋的", C, "U:8/None/1502"),
        ]
    )


@pytest.mark.parametrize("intent", ["enquiry", "payment", "other"])
def test_only_repairs_and_complaints_have_a_location(intent: str) -> None:
    for text in ["3号楼电梯什么时候修好", "5栋1单元1202 物业费怎么交", "健身房周末开吗"]:
        assert locate(text, intent) == "NULL"
    assert find_location("3号楼电梯坏了", intent, None) is None


def test_places_in_chinese() -> None:
    check(
        [
            ("电梯按钮失灵 十二栋", R, "lift/12"),
            ("电梯坏了", R, "lift/None"),
            ("7栋1单元单元门锁坏了 关不上", R, "lobby/7"),
            ("4号楼大堂的玻璃门碎了", R, "lobby/4"),
            ("单元门口的信箱被撬了 3栋", C, "lobby/3"),
            ("3栋15楼走廊有人堆杂物", C, "corridor/3"),
            ("消防栓漏水 8栋6楼", R, "corridor/8"),
            ("安全通道的灯不亮 10栋", R, "stairs/10"),
            ("地下车库积水了", R, "garage/None"),
            ("天台的门一直开着 9栋", C, "roof/9"),
            ("外墙有瓷砖掉下来 差点砸到人 3号楼", R, "facade/3"),
            ("有人高空抛物 扔了个酒瓶下来", C, "facade/None"),
            ("有人往楼下扔烟头 9号楼", C, "facade/9"),
            ("草坪的喷头坏了 一直在喷水", R, "garden/None"),
            ("小区大门的道闸坏了", R, "gate/None"),
            ("保安在岗亭里睡觉", C, "gate/None"),
            ("路灯不亮 小区主路一片黑", R, "road/None"),
            ("垃圾桶满了没人清 7号楼旁边", C, "bins/7"),
            ("泳池的水很脏", C, "amenity/None"),
            ("配电房冒烟了 4栋", R, "pipes/4"),
            ("快递柜打不开", R, "other/None"),
            ("電梯又壞了 12棟", R, "lift/12"),
            ("樓道裡堆滿了雜物 5棟3樓", C, "corridor/5"),
        ]
    )


def test_places_in_english_and_mixed() -> None:
    check(
        [
            ("The elevator in Tower C keeps beeping", R, "lift/C"),
            ("Tower 4 lobby lights are off", R, "lobby/4"),
            ("East gate turnstile is jammed", R, "gate/None"),
            ("Lights in the stairwell of Block 9 are out", R, "corridor/9"),
            ("the car park barrier at Block 6 is stuck", R, "garage/6"),
            ("hedges outside Block 5 need trimming", C, "garden/5"),
            ("Broken glass on the footpath outside Block 7", R, "road/7"),
            ("the bin area by Tower 1 stinks", C, "bins/1"),
            ("the gym treadmill is broken", R, "amenity/None"),
            ("There's a leak in the basement", R, "other/None"),
            ("Kids skateboarding in the car park at night", C, "garage/None"),
            ("gate 的门禁又坏了", R, "gate/None"),
        ]
    )


def test_english_terms_are_whole_words() -> None:
    check(
        [
            ("the barrier won't lift at the car park exit", R, "garage/None"),  # lift, the verb
            ("kitchen cabinets fell off the wall, 3-1-1201", R, "U:3/1/1201"),  # not "bins"
        ]
    )


def test_the_flats_own_things_are_in_the_flat() -> None:
    check(
        [
            ("入户门锁打不开 A座1706", R, "U:A/None/1706"),
            ("我家空调外机支架松了 5-2-801", R, "U:5/2/801"),
            ("Front door lock broken, 3-2-1101", R, "U:3/2/1101"),
            ("No hot water, Blk 5 #03-11", R, "U:5/None/03-11"),
            ("12-3-1101 次卧窗户关不严 漏风", R, "U:12/3/1101"),
            ("燃气表漏气 3栋2单元801", R, "U:3/2/801"),
            ("我家门口的门铃不响了 6-1-1802", R, "U:6/1/1802"),  # its doorbell, not 门口
        ]
    )


def test_damage_inside_a_named_flat_is_in_the_flat() -> None:
    check(
        [
            ("楼上漏水 我家卧室天花板湿了一大片 2-1-602", R, "U:2/1/602"),
            ("外墙渗水 次卧墙面发霉 5栋1单元2101", R, "U:5/1/2101"),
            ("Water leaking from the roof into my bedroom, Tower 2 #20-03", R, "U:2/None/20-03"),
            ("我家和楼道都停电了 5-1-1702", R, "U:5/1/1702"),
            ("家里停电了 邻居家都有电 12-1-301", R, "U:12/1/301"),
        ]
    )


def test_a_leak_is_where_it_starts() -> None:
    check(
        [
            ("楼顶的水箱在往外冒水 顶楼楼道都湿了 5栋", R, "pipes/5"),
            ("roof of Tower B is leaking into the top floor corridor", R, "roof/B"),
            ("楼道有焦糊味 好像是从管道井里出来的 6栋", R, "pipes/6"),
            ("楼道的天花板在渗水 应该是天台的防水层坏了 4号楼", R, "roof/4"),
            ("水管爆了 从3楼漏到1楼楼道", R, "corridor/None"),
            # it starts in a flat the text does not name
            ("楼上的水漏到楼道里了 楼梯上全是水", R, "NULL"),
        ]
    )


def test_neighbours() -> None:
    check(
        [
            ("7栋1102一直在装修 吵死了", C, "U:7/None/1102"),
            ("7号楼1单元702家的狗天天叫", C, "U:7/1/702"),
            ("Loud karaoke from Block 2 Unit 1206 every night", C, "U:2/None/1206"),
            ("对门1403的猫天天跑到我家门口 我们是4栋", C, "U:4/None/1403"),
            # unnamed: even when the owner names their own flat
            ("我是8栋2单元902的 楼上每天晚上蹦迪", C, "NULL"),
            ("隔壁装修太吵了 我住9-1-301", C, "NULL"),
            ("The couple next door fight every night, I'm at 4-2-1503", C, "NULL"),
            ("我是10栋的 楼下的狗天天叫", C, "NULL"),
            ("楼上天天拖椅子", C, "NULL"),
        ]
    )


def test_what_people_do_or_leave_in_a_common_place_is_there() -> None:
    check(
        [
            ("对门1403把鞋柜放在楼道里 我们是4栋", C, "corridor/4"),
            ("5号楼有人在楼道里抽烟", C, "corridor/5"),
            ("装修工人把水泥倒在草坪上 9栋1单元旁边", C, "garden/9"),
            ("Someone dumped a mattress next to the bins behind Tower 3", C, "bins/3"),
            ("Dog poo all over the lawn near Block 2", C, "garden/2"),
        ]
    )


def test_staff_fees_and_cards_are_nowhere_unless_placed() -> None:
    check(
        [
            ("我是4栋1单元601的，客服态度太差", C, "NULL"),
            ("物业费又涨了 我是8-1-901", C, "NULL"),
            ("停车费太贵了", C, "NULL"),
            ("快递员态度差", C, "NULL"),
            ("报修三天了还没人来", C, "NULL"),
            ("门口的保安连登记都不做", C, "gate/None"),
            ("北门的保安不让外卖进", C, "gate/None"),
            ("维修工上次来换水龙头 把我家瓷砖磕坏了 6-2-402", C, "U:6/2/402"),
            ("门禁卡失灵了 3-2-702", R, "NULL"),
            ("单元门刷卡没反应 3-2-702", R, "lobby/3"),
        ]
    )


def test_an_unnamed_flat_is_nowhere() -> None:
    check(
        [
            ("家里有蟑螂", C, "NULL"),
            ("空调不制冷", R, "NULL"),
            ("厨房下水道堵了", R, "NULL"),
            ("我家漏水 天花板一直在滴", R, "NULL"),
            ("水压太低 洗不了澡", R, "NULL"),
            ("Plumber never showed up", C, "NULL"),
        ]
    )


def test_the_building_of_a_place() -> None:
    check(
        [
            # named with the place, wherever in the message
            ("地库B1的照明坏了 8号楼那边", R, "garage/8"),
            ("井盖松了 就在8栋门口", R, "road/8"),
            ("我是7栋2单元702的 5号楼电梯坏了", R, "lift/5"),
            # the owner's own building, when the place is theirs
            ("我住6栋2单元1501，电梯一直停在负一楼上不来", R, "lift/6"),
            ("The lift in my block is out of order, 9-1-1501", R, "lift/9"),
            ("my block's entrance door won't shut, 8-2-1203", R, "lobby/8"),
            ("我家门口的感应灯不亮 3-1-1202", R, "corridor/3"),
            ("I'm in Tower 6, the lift is stuck again", R, "lift/6"),
            ("楼下那排树该修剪了 挡住我家阳台 2-2-301", C, "garden/2"),
            ("垃圾房的门坏了 关不上 我住垃圾房旁边的7栋102", R, "bins/7"),
            # but not of a place the text does not tie to it
            ("我家车位被别人占了 4-2-801", C, "garage/None"),
            ("我的电动车在车库被偷了 我是2-1-502", C, "garage/None"),
            ("花园里有人遛狗不拴绳 我是3栋1单元602的", C, "garden/None"),
            ("健身房的空调坏了 我是6-1-1001", R, "amenity/None"),
            ("I'm in Tower 6 and the gym aircon is broken", R, "amenity/None"),
            ("我是5栋的 西门刷脸进不去", R, "gate/None"),
            # a stretch between two buildings, an entrance without a building, a floor alone
            ("3号楼到5号楼之间的路灯都坏了", R, "road/None"),
            ("The street lamp between Block 3 and Block 4 is flickering", R, "road/None"),
            ("5单元的楼梯栏杆松动了", R, "stairs/None"),
            ("3单元的单元门关不上", R, "lobby/None"),
            ("12楼楼道的灯坏了", R, "corridor/None"),
        ]
    )


def test_a_lobby_is_not_the_estate_gate() -> None:
    check(
        [
            ("6栋单元门的闭门器坏了", R, "lobby/6"),
            ("小区东门的门禁坏了", R, "gate/None"),
            ("The entrance door of Tower 2 is stuck open", R, "lobby/2"),
            ("The main gate barrier is stuck open", R, "gate/None"),
        ]
    )


def test_out_of_doors_at_the_foot_of_a_building() -> None:
    check(
        [
            ("10号楼楼下有人半夜喝酒划拳", C, "other/10"),
            ("有辆车天天停在5栋楼下按喇叭", C, "other/5"),
            ("楼下有人喝酒吵闹 我是3-1-101", C, "other/3"),
        ]
    )


def test_a_whole_building_or_the_estate() -> None:
    check(
        [
            ("9栋整栋楼停水了", R, "other/9"),
            ("6栋3单元整个单元都停水了", R, "other/6"),
            ("11栋 停电了", R, "other/11"),
            ("整栋楼突然全停电了", R, "other/None"),
            ("Block 11 has had no power since noon", R, "other/11"),
            ("The whole of Block 5 has been without water since 7am", R, "other/5"),
            ("the upper floors of Block 8 have no water", R, "other/8"),
            ("3号楼后面有人烧垃圾", C, "other/3"),
            ("有人在5栋和6栋中间的空地上烧垃圾", C, "other/None"),
            ("小区里好多流浪猫", C, "other/None"),
        ]
    )


def test_the_first_place_named_and_a_place_before_the_estate() -> None:
    check(
        [
            ("The pool gate is broken", R, "amenity/None"),
            ("树倒了压在车上 东门旁边", R, "garden/None"),
            ("电梯门口的地砖裂了 11号楼", R, "corridor/11"),  # 电梯门口 is not the lift
            ("楼道里的电表箱在冒火花 2号楼", R, "pipes/2"),  # a panel in the corridor
            ("小区里到处是垃圾 草坪上也有", C, "garden/None"),
            ("Someone keeps parking in front of the garbage room", C, "bins/None"),
        ]
    )


def test_to_json_and_validation() -> None:
    assert Location(unit=Unit("3", None, "05-01")).to_json() == {
        "unit": {"building": "3", "entrance": None, "room": "05-01"}
    }
    assert Location(building=None, place="road").to_json() == {"building": None, "place": "road"}
    with pytest.raises(ValueError):
        Location(building="3", place="kitchen")
    assert PLACES[-1] == "other" and len(PLACES) == 14


def test_the_lexicon_covers_every_place_in_both_languages() -> None:
    data = location_mod._lexicon_data()
    for place in PLACES:
        assert data["places"][place]["zh"] and data["places"][place]["en"], place


def test_lexicon_terms_longest_first() -> None:
    assert location_mod._min_width("电梯门口") == 4
    assert location_mod._min_width("lifts?(?! up)") == 4
    assert location_mod._min_width("(?:扔|放)在?(?:我家|家)?门口") == 3
    assert location_mod._min_width("楼上.{0,4}往下扔") == 5
    assert location_mod._min_width("(?<=号楼)楼下") == 2
    assert location_mod._expand("(?:my|our) lot") == ["my lot", "our lot"]
    assert location_mod._expand("(?:我|他)?家门口") == ["我家门口", "他家门口", "家门口"]
    assert location_mod._expand("(?<=号楼)楼下") == ["楼(?<=号楼.)下"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"places": {"kitchen": {"zh": ["厨房"]}}}, "unknown place"),
        ({"cues": {"mood": {"zh": ["烦"]}}}, "unknown cue"),
        ({"places": {"lift": {"en": ["Lift"]}}}, "lower case"),
        ({"places": {"lift": {"zh": ["(电梯)"]}}}, "(?:...)"),
        ({"places": {"lift": {"zh": ["[电]梯"]}}}, "start with a character"),
    ],
)
def test_bad_lexicon_data_is_refused(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_lexicon(data)


def test_a_huge_repetitive_text_is_located_in_one_pass() -> None:
    # Its speed is measured in benchmarks/nlu_speed.py (a test asserts no wall-clock time); a
    # rule that backtracked on such a text would never come back from this call.
    assert find_location("电梯" * 20_000, R, None) == Location(place="lift")
