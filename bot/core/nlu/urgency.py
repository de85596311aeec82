"""Urgency rules: danger to people or property *now*, in Chinese and English.

The lexicon does not depend on the intent model. It looks for eight kinds of danger
(LABELS.md): someone trapped, gas, fire / smoke / sparks / burning smell, water pouring or
flooding or a burst pipe, a whole flat or building without power or water, a threat in
progress, things about to fall on people (a window hanging loose, an open manhole) and
electric shocks.

Each rule is either **hard** or **soft**:

- A *hard* signal is danger however the message is phrased (the product rule: "a message about
  a gas smell, smoke, someone trapped or water pouring is urgent however it is phrased"): a gas
  smell or leak, fire or flames, smoke that is not from cooking or cigarettes, sparks or a
  burning smell from wiring, a person trapped, water pouring / flooding / a burst pipe, a
  threat in progress (a fight, a knife, a break-in). A hard signal makes the message urgent
  on its own; the NLU only drops it when the intent model is all but certain the message is
  a question for information, not a report (``HARD_INTENT_GATE``).
- A *soft* signal is a hint that needs the trained classifier to agree: an outage (is it the
  whole flat, or a planned cut?), a toilet about to overflow, a stranger hanging around, a
  window about to fall, a socket that gave someone a shock, a smell of smoke, a fire alarm.

Both work clause by clause, so a clause that says the danger is over, never was, is planned or
is hypothetical (``昨天的漏水已经修好了``, ``no gas smell anymore``, ``如果着火了怎么办``,
``明天停水吗``) does not count, while ``the leak was fixed but now water is pouring again``
still does. Threats and past events must still be going on (``昨天有人打架`` is a complaint,
not an emergency). Smoke, a smell of burning and the like do not count when the message says
they come from cooking, a barbecue or cigarettes (a complaint about smoking, not a fire);
flames and sparks still do.

:func:`scan` returns the hard and soft kinds found; :func:`urgent_signals` all kinds;
:func:`hard_signals` the hard ones; :func:`rule_urgent` whether any was found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

try:  # the regular-expression parser, to derive each group's literal pre-check
    import re._constants as _sre
    import re._parser as _parser
except ImportError:  # Python < 3.11
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

__all__ = [
    "HARD_INTENT_GATE",
    "SIGNALS",
    "Signals",
    "hard_signals",
    "rule_urgent",
    "scan",
    "split_clauses",
    "urgent_signals",
]

_MAX_TEXT = 4000

# A hard signal is ignored only when the intent model is this sure that the message asks for
# information (enquiry or payment): a question that names a danger ("燃气泄漏报警电话是多少",
# "is the fire drill at 10?"), not a report of one. Chit-chat ("other") does not veto it: a short
# alarmed message ("man with a knife!!!") can look like chit-chat to the intent model, and a
# missed emergency costs more than a false alarm.
HARD_INTENT_GATE = 0.9

_PEOPLE_EN = (
    r"(?:i|i'm|im|we|we're|were|me|us|my|our|someone|somebody|people|ppl|person|persons|kids?|"
    r"child(?:ren)?|baby|son|daughter|mum|mom|mother|dad|father|husband|wife|grandma|grandpa|"
    r"old|elderly|lady|man|woman|guy|delivery|neighbou?r|resident|they|he|she|\d+\s*(?:people"
    r"|ppl))"
)

_PEOPLE_ZH = (
    r"(?:人|我|我们|妈|爸|孩子|小孩|老人|孕妇|他|她|阿姨|婆婆|公公|奶奶|爷爷|宝宝|女儿|儿子"
    r"|老婆|老公|大爷|外卖|快递|病人|父亲|母亲|爸爸|妈妈|老妈|老爸|快递员|小哥)"
)
# A lift that has stopped: with someone inside it, that someone is trapped.
_LIFT_STUCK_ZH = r"(?:停|卡|坏|不动|故障|掉|打不开|开不了|急停|罢工)"


@dataclass(frozen=True)
class _Group:
    """Patterns of one kind and strength, compiled as one alternation."""

    kind: str
    hard: bool
    patterns: tuple[str, ...]
    smoke: bool = False  # smoke or a smell of burning: not when cooking/cigarettes are named
    unless: str | None = None  # the group does not count in a clause this matches
    scoped: bool = False  # an outage whose match names the whole flat or building itself


_GROUPS: tuple[_Group, ...] = (
    # ---------------------------------------------------------------- trapped (hard)
    _Group(
        "trapped",
        True,
        (
            r"困人|被困(?!扰)|困在(?!家)|困住|关在.{0,6}电梯|卡在电梯|人被关|救命.{0,3}电梯"
            r"|电梯.{0,3}救命"
            r"|电梯.{0,4}关(?:着)?人|(?:手|脚|腿|人|胳膊|头)被.{0,6}夹住"
            rf"|电梯.{{0,10}}{_LIFT_STUCK_ZH}.{{0,12}}(?:里[面头边]?(?:好像|还)*有(?:个|位|一个"
            rf"|两个|几个)?"
            rf"(?:人|老|{_PEOPLE_ZH})|{_PEOPLE_ZH}(?:还)?在(?:电梯|轿厢)?里[面头]?)"
            rf"|{_PEOPLE_ZH}.{{0,4}}在(?:电梯|轿厢)里.{{0,16}}(?:{_LIFT_STUCK_ZH}|警铃|出不来"
            rf"|出不去|没人应|闷)"
            r"|电梯.{0,6}(?:关着人|困着|卡着人|人出不来)|(?:电梯|轿厢|里面|关在).{0,8}出不来"
            r"|电梯.{0,20}(?:(?<!没)(?<!没有)(?:人|我|孩子|小孩|老人|孕妇|他|她|我们|我妈"
            r"|我爸)(?:还)?在里面"
            r"|里面(?:好像)?(?:还)?有人|人还在|还有人|困了|卡了人)"
            r"|(?:困|卡|关)电梯|人还在里面|里面有(?:人|小孩|孩子|老人)"
            r"|(?:我|我们|孩子|小孩|老人|孕妇|他|她|阿姨)(?:和.{1,3})?(?:还)?在(?:电梯|轿厢)?里面"
            r"|夹住了?(?:人|手|老人|小孩|孩子|腿)|夹住了.{0,3}的(?:手|腿|脚)|(?:卡|压)在下面",
            r"电梯(?:突然|又|直接|一下子?|猛地|往下)?(?:下坠|坠落|溜梯|冲顶|往下掉|掉下去|掉了一层"
            r"|掉了几层|滑)"
            r"|(?:开着门|门开着).{0,4}(?:运行|走|上下)",
            r"\btrapped\b",
            rf"\b{_PEOPLE_EN}(?:'s|'re)?\s+(?:is |are |was |were |got |has been |have been )?"
            r"(?:stuck|locked)\s+(?:in|inside)\b(?!\s+(?:traffic|a meeting))",
            r"\bstuck\s+(?:in|inside)\s+(?:the |a |our |that )?(?:\w+ )?(?:lift|elevator)s?\b",
            r"\bstuck\b.{0,40}\bwith\b.{0,20}\binside\b"
            r"|\b(?:got|been|am|are|is|was|were|get)\s+(?:stuck|locked|trapped)\s+(?:in|inside)\b"
            r"(?!\s+(?:traffic|a meeting))"
            r"|\b(?:stopped|stuck|stalled|jammed)\s+between\s+floors\b",
            rf"\b(?:lift|elevator)s?\b.{{0,50}}\b(?:we're|we are|{_PEOPLE_EN})\s+(?:is |are )?"
            r"(?:still )?(?:inside|in (?:it|them|there))\b",
            r"\b(?:lift|elevator)\b.{0,30}\b(?:dropped|fell|plunged|moving with the doors? open)\b"
            r"|\bdoors? opened between floors\b",
        ),
    ),
    # ---------------------------------------------------------------- gas (hard)
    _Group(
        "gas",
        True,
        (
            r"(?:煤气|燃气|天然气|液化气|瓦斯)(?:的)?.{0,6}(?:味|泄漏|泄露|漏气|漏了|在漏|嘶嘶|臭)"
            r"|(?:闻到|有股|一股|好大的?|很浓的?|好浓的?).{0,4}(?:煤气|燃气|天然气)(?!费|公司|卡"
            r"|账单|缴)"
            r"|(?:煤气|燃气|天然气)\s*(?:smell|leak|odou?r)"
            r"|(?:燃气|煤气)(?:管|表|阀|灶|软管).{0,6}(?:漏|破|裂|断|洞|咬)"
            r"|(?:燃气|煤气|天然气).{0,8}(?:关不上|关不住|关不掉|有气出来|一直出气)",
            r"燃气报警器.{0,6}(?:响|叫|报警|beep|going off|ringing|sounding)|一氧化碳|(?:燃气|煤气"
            r"|热水器|排烟管).{0,20}(?:头晕|头有点晕|头疼|恶心想吐)",
            r"\bgas\b.{0,4}\b(?:smell\w*|leak\w*|odou?r|stink\w*)\b"
            r"|\b(?:smell\w*|stinks?|reeks?|odou?r)\b.{0,12}\bgas\b|\bgas\b.{0,30}\bhiss\w*"
            r"|\bgas\s+(?:pipe|line|meter|valve|hose|stove|cooker|tank|bottle)\b.{0,25}"
            r"\b(?:leak\w*|hiss\w*)",
            r"\b(?:co|carbon monoxide|gas)\s+(?:alarm|detector)\b.{0,20}"
            r"\b(?:going off|beeping|ringing|sounding)\b|\bcarbon monoxide\b",
        ),
    ),
    # ---------------------------------------------------------------- fire: flames, sparks (hard)
    _Group(
        "fire",
        True,
        (
            r"(?<!真)(?<!真的)(?<!要是)着火(?!车)|起火|失火|火灾(?!隐患|报警|险|演练)|烧起来|窜火"
            r"|明火"
            r"|冒火|火光|火花|打火花|电火花|烧着了|纵火|自燃|火势|大火|(?:火|火苗)(?:窜|蹿)"
            r"|火(?:很大|好大|越来越大)",
            r"(?:电线|插座|插头|电箱|电表箱|配电箱|开关|电闸|线路|电瓶|充电器|电动车|电器)"
            r".{0,6}(?:冒烟|冒火|着火|起火|炸了|火花|烧焦|焦了|在烧|烧起来)",
            r"\bon fire\b|\bflames?\b|\bblaze\b|\bspark(?:s|ing|ed)?\b(?!\s+(?:joy|plug))",
            r"\b(?:something|it|plastic|wires?|wiring|socket|cable|charger)\b.{0,10}"
            r"\b(?:is |'s )?burning\b",
            r"(?<!cease)\bfire\b(?!\s*(?:lanes?|exits?|doors?|escapes?|extinguishers?|drills?"
            r"|hydrants?|safety|access|routes?|engines?|trucks?|alarms?|stairs?|station|insurance"
            r"|inspection|hazards?|risks?|code|regulations?|prevention|brigade\s+access|sale"
            r"|him|her|them|that|this|the|those|these|whoever|someone|your|warden|department"
            r"|number|hotline)\b)",
        ),
    ),
    # ---------------------------------------------------------------- fire: smoke, burning (hard)
    _Group(
        "fire",
        True,
        (
            r"冒烟|冒黑烟|冒白烟|浓烟|黑烟|烟雾弥漫|烟往(?:屋|家|房|楼道)|烧焦|焦味|焦糊"
            r"|塑料.{0,4}烧|烧.{0,2}塑料"
            r"|(?:有|好多|很大的?|一股|满屋|满屋子|全是|都是|一屋子|楼道里?|走廊里?).{0,2}烟"
            r"(?!花|头|酒|民|草|灰缸|味|感|囱|道|机|雾报警|雾探测|盒|瘾)",
            r"(?<!they )(?<!people )(?<!who )(?<!to )(?<!i )(?<!we )(?<!you )(?<!don't )"
            r"(?<!smell of )(?<!smells of )(?<!smell like )(?<!smells like )(?<!guys )(?<!kids )"
            r"(?<!neighbours )(?<!neighbors )(?<!residents )(?<!workers )(?<!teens )(?<!men )"
            r"\bsmoke\b(?!\s*(?:alarms?|detectors?|free|smell\w*)\b(?!.{0,30}\b(?:smoke|fire"
            r"|burn)))"
            r"(?!\s+(?:on|at|out|every|all|near|outside|cigarettes?|weed|pot)\b)",
            r"\bburn(?:ing|t)\b.{0,20}\bsmell\w*\b|\bsmell\w*\b.{0,20}\bburn(?:ing|t)\b"
            r"|\bsmoky\b.{0,20}\b(?:corridor|hallway|stairwell|stairs|lobby|lift|flat|kitchen)\b",
        ),
        smoke=True,
    ),
    # ---------------------------------------------------------------- water (hard)
    _Group(
        "water",
        True,
        (
            r"爆管|水管.{0,2}爆|(?:水管|管子|管道|水龙头|龙头|软管|阀门|角阀|水表|暖气管|暖气片"
            r"|热水管"
            r"|冷水管|排污管|下水管|进水管|总管|主管道|热水器|水箱).{0,4}(?:爆了|爆开|爆裂|崩开"
            r"|崩了|飞了"
            r"|炸开|炸了)",
            r"(?:喷|涌)水|往外(?:喷|涌)|水.{0,4}(?:喷(?!头|淋|雾|漆)|涌|灌进|止不住|关不住|往外冒"
            r"|漫|淌了一地"
            r"|流了一地|越积越多)|水(?:位)?越来越(?:多|高|深)|水柱|滋水|往外滋|喷得",
            r"成河|漫水|水漫|淹了|被淹|水淹|淹水|淹到|淹没|快淹|发大水|(?:家里|家|屋里|屋子|房间"
            r"|地下室|储藏室"
            r"|车库|地库|客厅|卧室|厨房|卫生间|电梯井|电梯|楼道|配电房|配电室|电房|大堂|门厅|一楼"
            r"|店里)进水了?"
            r"|(?:到处|满地|满屋子?|每层|一屋子|整层|满楼道|整个.{1,4})(?:都是|全是)水"
            r"|一地(?:的)?水|满地水"
            r"|(?:水|积水).{0,4}(?:脚踝|小腿|膝盖)|水.{0,6}往(?:里|屋里|家里|楼里)(?:灌|涌)|像瀑布"
            r"|跟瀑布|像喷泉"
            r"|(?:pipe|hose|tap|valve)s?\s*(?:爆|裂开)|水\s*everywhere"
            r"|全是(?:污水|臭水)|家里全是水|(?:没过|淹到|淹没).{0,3}(?:脚|膝|轮|车)|泡在水里",
            r"哗哗(?:地|的)?(?:淌|往下)|哗哗.{0,6}(?:天花板|往下)"
            r"|(?:漏|渗|滴)水.{0,6}(?:像下雨|止不住|跟下雨)"
            r"|(?:天花板|屋顶|吊顶|顶灯|灯|楼上).{0,8}(?:哗哗(?!的?水?声|响)|大量|像下雨|往下流"
            r"|往下淌|往下浇|往下灌"
            r"|往下冒)",
            r"(?:污水|粪水|化粪池).{0,6}(?:冒|涌|倒灌|漫|往上返|返上来|溢)",
            r"\b(?:pipe|main|hose|tap|valve|heater|boiler|tank|radiator)s?\b.{0,20}\b(?:burst"
            r"|exploded)\b"
            r"|\bburst\s+(?:pipe|main|water|hose|tank|radiator|heater)"
            r"|\bflood(?:s|ed|ing)?\b(?!-?proof|\s*lights?|\s+(?:with|of)\s+(?:messages|complaints"
            r"|ads"
            r"|spam|calls|emails|notifications|people))"
            r"|\bpouring\s+(?:in|into|through|down|out|from|onto|everywhere)\b(?!.{0,20}\brain)"
            r"|\bwater\b.{0,20}\bpouring\b|\bgushing\b|\bwater everywhere\b"
            r"|\b(?:water|pipe|hose|tap|valve|sewage|manhole|sewer)\b.{0,25}"
            r"\b(?:spraying|spurting|shooting out|gushing|rushing)\b"
            r"|\b(?:sewage|manhole|sewer)\b.{0,25}\boverflow\w*\b"
            r"|\bwater\b.{0,20}\b(?:rushing|pouring|streaming|cascading)\b"
            r"|\b(?:ankle|knee)[- ]deep\b|\binches of water\b|\bstanding water\b.{0,20}\b(?:flat"
            r"|floor|room)\b"
            r"|\bsewage\b.{0,30}\b(?:coming up|backing up|coming out|flooding|everywhere"
            r"|all over)\b"
            r"|\blike a (?:waterfall|river|fountain)\b|\braining (?:in|inside) (?:our|my"
            r"|the) (?:kitchen|flat"
            r"|apartment|bathroom|bedroom|living room|lift|lobby|corridor|hallway|house|home)\b",
        ),
    ),
    # ---------------------------------------------------------------- threat in progress (hard)
    _Group(
        "threat",
        True,
        (
            r"打架|打起来|打人|斗殴|群架|持刀|拿刀|拿着刀|动刀|砍人|抢劫|抢包|入室|闯入|闯进"
            r"|撬.{0,4}(?:门|锁|窗|车)|捅.{0,3}锁|正在偷|在偷(?!懒|看|拍|听|吃|偷)|偷车(?!位)"
            r"|喊救命|呼救"
            r"|踹.{0,4}门|砸(?:门|窗|车)|家暴|流血|打伤|纵火|进贼|进了贼|进小偷|进了小偷"
            r"|(?:爬|翻|钻)进(?:了)?(?:我家|隔壁|家里|屋里|别人家|.{0,4}家)"
            r"|撬\s*(?:\w+\s+)?(?:door|lock|window|car)|(?:with a|has a|holding a"
            r"|carrying a)\s*刀",
            r"\bknife\b|\bweapon\b|\bstabb\w*\b|\bbreak(?:ing)? in(?:to)?\b|\bbreaking into\b"
            r"|\btrying to break\b|\bburglar(?:s|y)?\b(?!\s+alarm)|\bintruder\b|\ba fight\b"
            r"|\bfighting\b|\bbrawl\w*\b|\bpunch(?:ing|ed)\b|\bbleeding\b|\bmugg(?:ed|ing)\b"
            r"|\bsomeone is (?:trying|breaking)\b|\b(?:screaming|shouting|calling|crying"
            r"|yelling) for help\b",
        ),
    ),
    # ---------------------------------------------------------------- a whole flat or building
    # without power or water right now (hard: LABELS.md counts it as danger, however it is put)
    _Group(
        "outage",
        True,
        (
            r"(?:全屋|全家|整个(?:家|屋|屋子|房子|单元|楼|楼栋|小区)|整栋|整幢|全楼|全栋"
            r"|全单元|家里|家头|屋里|屋头|我家|我们家|俺家|这栋|这幢|我们(?:这)?(?:栋|幢|楼)"
            r"|\d+\s*(?:栋|幢|号楼|座|单元)|单元|所有(?:的)?楼|各(?:栋|个楼))"
            # the gap names no part of the flat: "家里有个插座没电" is one socket
            r"(?:(?!插座|热水|手机|电池|遥控|电瓶|电动车|房间|卫生间|厨房|卧室|客厅|空调|冰箱|灯泡"
            r"|电梯|路灯|楼道).){0,8}"
            r"(?:停电|没电|断电|停水|没水|断水|没有水|没有电|没得电|莫得电|没得水|莫得水"
            r"|都黑了|全黑了|黑起|黑着|黑漆漆|(?:电|水)(?:全|都)(?:没|停)|(?:自来水|水|电)(?:全|都)?停了"
            r"|\bdark\b)"
            r"|一滴水(?:都|也)?没|一点(?:水|电)(?:都|也)没|\bwater\b\s*一滴(?:都|也)?没"
            # every light of the flat, not of a corridor or a lift lobby
            r"|(?:家里|家中|屋里|屋头|我家|全屋)的?(?:(?:所有|全部)的?(?:灯|电器|插座).{0,8}"
            r"(?:灭|不亮|没电|黑|停)|(?:灯|电器|插座).{0,4}(?:全|都)(?:灭|不亮|没电|黑|停))",
            r"\b(?:whole|entire|all of (?:the|our|my|his|her))\s+(?:flat|unit|apartment|house"
            r"|home|place|block|building|tower|floor|estate)\b.{0,40}\b(?:no|without|zero|lost"
            r"|out|off|dead|died|dark|gone|cut)\b"
            r"|\b(?:no|zero|without|lost)\s+(?:power|electricity|water)\b.{0,30}\b(?:whole"
            r"|entire|all of)\b"
            r"|\b(?:power|electricity|water|lights)\b.{0,25}\b(?:whole|entire)\s+(?:flat|unit"
            r"|apartment|house|home|place|block|building|tower|floor)\b"
            r"|\bevery (?:light|socket|plug)\b.{0,30}\b(?:dead|out|off|no power)\b"
            r"|\ball (?:the |our |my )?(?:lights|sockets|power)\b.{0,20}\b(?:went|are|is|have"
            r"|gone)\b.{0,8}\b(?:out|off|dead)\b"
            r"|\bnot (?:a|one) drop\b|\b(?:water|power)(?:'s| is| has been)? completely"
            r" (?:off|out|gone)\b",
        ),
        scoped=True,
        # "我们这栋停电了吗" asks; it does not report.
        unless=r"吗|是不是|是否|会不会|什么时候|几点"
        r"|\b(?:will|when|is there|is the|are we|do we)\b",
    ),
    # ---------------------------------------------------------------- more ways of saying the
    # same dangers (hard)
    _Group(
        "trapped",
        True,
        (
            r"电梯.{0,6}(?:里|内).{0,10}(?:下不来|出不来|上不去|下不去|打不开|开不了门)"
            r"|电梯.{0,4}(?:关了人|关着(?:个|一个|位|一位)?(?:人|老|小|孩|女|男))"
            r"|(?:我|我们|孩子|小孩|老人|宝宝)(?:和|跟).{1,4}(?:都|还)?在(?:电梯|轿厢)?里面"
            rf"|{_PEOPLE_ZH}(?:都|还)?在.{{0,6}}电梯里.{{0,16}}(?:不动|停|卡"
            r"|下不来|出不来|打不开)"
            r"|电梯.{0,4}关了(?:个|一个|位|两个|几个)|(?:两层|两个楼层|\d+\s*楼和\s*\d+\s*楼)中间"
            rf"|电梯.{{0,12}}(?:停|卡|不动|坏).{{0,8}}{_PEOPLE_ZH}在里面"
            r"|(?:孩子|小孩|宝宝|儿子|女儿|老人).{0,8}(?:反锁|锁)在.{0,8}(?:里|里面)"
            r"|夹住(?:了)?.{0,6}(?:手|脚|腿|胳膊)|被\s*(?:lock|锁|关)\w*\s*在.{0,12}里",
            r"\b(?:i'm|i am|we're|we are|im|[a-z]+ is|[a-z]+ are)\s+(?:in|inside)\s+(?:the|a"
            r"|our)\s+(?:\w+\s+)?(?:lift|elevator)\b.{0,40}\b(?:won't|doesn't|not|can't|cannot"
            r"|stuck|stopped|stalled)\b"
            r"|\blocked (?:himself|herself|themselves) in\b|\bstopped with\b.{0,30}\binside\b"
            r"|\b(?:hand|arm|leg|foot|finger)s? (?:is |are |got )?(?:caught|stuck|trapped) in\b"
            r"|\b(?:crying|screaming|shouting|banging|someone|somebody|kid|child|baby|person"
            r"|people|lady|man|woman)\s+(?:\w+\s+)?(?:inside|in)\s+(?:the\s+)?(?:lift|elevator)\b"
            r".{0,40}\b(?:won't|doesn't|can't|not|stuck|stopped)\b",
        ),
    ),
    _Group(
        "gas",
        True,
        (
            r"(?:一股|有股|闻到|好大|好浓|很浓)\s*.{0,4}\bgas\b|\bgas\s*(?:味|的味)"
            r"|(?:燃气|煤气|天然气).{0,8}\bhiss|(?:灶|炉).{0,10}(?:气味|味).{0,10}(?:头晕|头有点晕|恶心)"
            r"|(?:燃气|煤气|灶).{0,10}关了.{0,4}(?:还|仍)(?:有|是有).{0,3}(?:股)?(?:味|气)",
            r"\bsmell\w*\b.{0,20}\bgas\b|\bhiss\w*\b.{0,30}\bgas\b"
            r"|\bgas\s+(?:pipe|line|meter|valve|hose)\b.{0,40}\bhiss\w*",
        ),
    ),
    _Group(
        "water",
        True,
        (
            r"滴成(?:一条)?线|(?:盆|桶|脸盆|水桶)(?:都|也)?接不(?:过来|住|完)"
            r"|(?:漏|渗|滴|流)得?.{0,3}(?:像|跟)下雨|越(?:滴|漏|流|渗|淌)越(?:快|大|多|急|厉害)"
            r"|(?:天花板|屋顶|吊顶|顶灯|灯|楼上|上面).{0,14}(?:往下流|往下淌|往下浇|往下灌"
            r"|往下冒|哗哗(?!的?水?声|响))"
            r"|\bwater\b\s*(?:一直)?\s*(?:止不住|停不下来|关不住)",
            r"\braining (?:down|in|through|from|into)\b|\b(?:water|it)(?:'s| is)? raining\b"
            r"|\bcan'?t (?:stop|shut off|turn off) (?:the )?(?:water|leak|flow)\b"
            r"|\b(?:dripping|leaking|pouring) faster\b|\bbuckets? (?:can'?t|won't|isn'?t)\b",
            r"\b(?:drip\w*|leak\w*|water)\b.{0,15}越来越(?:大|多|快)",
            # water from a light, a flat or a lift shaft: electrics and neighbours at risk
            r"(?:灯罩|吊灯|灯里|灯具|顶灯|灯座).{0,8}(?:水|滴|漏|\bdrip)"
            r"|(?:\blight\b|\blamp\b)\s*(?:fitting\s*)?里.{0,8}(?:水|滴|漏|\bdrip)"
            r"|地上(?:全|都)是水|流到(?:门外|走廊|楼道|楼下|大堂)|流了一(?:楼道|地|走廊)"
            r"|往外(?:流水|翻(?:污)?水)|电梯.{0,10}进水|(?:没|莫得|没得)办法止住|跟筛子|像筛子"
            r"|(?:天花板|屋顶|吊顶).{0,4}在?淌水|(?:水|积水).{0,6}(?:车轮|轮胎)",
            r"\b(?:light fitting|lamp|ceiling light)\b.{0,25}\b(?:water"
            r"|dripping|leaking|pouring)\b"
            r"|\bwater\b.{0,30}\b(?:light fitting|ceiling light)\b|\ban inch of water\b"
            r"|\bfloodwater\b|\brunning down the walls?\b|\bwater\b.{0,20}\bspreading\b",
        ),
    ),
    _Group(
        "fire",
        True,
        (
            r"火星子|(?:冒|掉|溅|迸|往下掉)火星"
            r"|(?:配电箱|电箱|电表箱|插座|充电桩|充电器|电线|开关).{0,4}(?:在)?\s*smok",
            r"\b(?:switchboard|fuse ?box|meter ?box|socket|outlet|plug|wiring|wires?|cable"
            r"|chargers?|battery|panel|breaker|appliance|heater|e-?bike|scooter|car|engine)\b.{0,25}"
            r"\b(?:is |are |'s |was )?smoking\b",
        ),
    ),
    _Group(
        "threat",
        True,
        (
            r"有(?:个)?人(?:在|正在)?(?:爬|攀)(?:窗|阳台|墙|水管|楼|上来)|(?:阳台|窗外|窗户外)"
            r".{0,10}有(?:个)?人(?:在|影)|(?:在|正在)(?:爬|攀).{0,6}(?:阳台|窗)"
            r"|(?:鼓捣|撬|拧|掰|弄)(?:我家|我们家|我的|别人家)?.{0,2}(?:门锁|锁)"
            r"|拿着?.{0,2}(?:砍刀|菜刀|刀|铁棍|棍子|钢管|斧头)|(?:往楼下|往下|高空).{0,4}"
            r"(?:扔|抛|丢).{0,12}(?:砸到|砸中|打到)|砸到(?:人|了人|一个|老人|小孩|孩子)"
            r"|(?:从)?(?:围墙|墙|栏杆|护栏|大门)翻(?:进|过)|翻(?:进|过)(?:了)?(?:围墙|栏杆|护栏|大门)"
            r"|撬.{0,16}(?:门|锁|窗|车)|按.{0,6}密码锁|推搡|堵着.{0,10}不让走|往下(?:扔|泼|丢|砸)"
            r"|有(?:个)?人在我家(?:阳台|窗|屋里|家里)",
            r"\bclimbing\b.{0,25}\b(?:balcon\w*|windows?|walls?|drainpipes?|pipes?|scaffold\w*)\b"
            r"|\btrying (?:the )?(?:door )?handles\b|\btrying to (?:open|get into|force|pick)\b"
            r"|\bdoor to door\b.{0,30}\b(?:trying|handles|testing)\b"
            r"|\b(?:machete|cleaver|axe|gun|pistol|crowbar)\b"
            r"|\b(?:climb\w*|jump\w*) (?:over )?the (?:fence|wall|gate)\b"
            r"|\bpicking (?:the |our |my )?lock"
            r"|\b(?:entering|trying) (?:codes?|the code)\b|\bchuck\w* (?:stuff|things|bottles)\b"
            r"|\b(?:throwing|threw|dropping)\b.{0,30}\b(?:hit|hitting|at people|onto people)\b",
        ),
        unless=r"传单|广告|推销|\b(?:flyers?|leaflets?|ads|adverts?|sales\w*|selling)\b",
    ),
    # ================================================================ soft signals
    _Group(
        "trapped",
        False,
        (r"出不去|出不来|被锁在", r"\bcan'?t get out\b|\blocked in\b"),
        unless=r"车(?!库)|\b(?:car|cars|vehicle)\b",  # a car that cannot get out: a repair
    ),
    _Group(
        "gas",
        False,
        (
            r"臭鸡蛋味|漏气",
            r"\brotten eggs?\b|\b(?:boiler|water heater|gas heater|hob|stove)\b.{0,40}"
            r"\b(?:dizzy|headaches?|nause\w*)\b",
        ),
    ),
    _Group(
        "fire",
        False,
        (
            r"爆炸|噼里啪啦|噼啪|火苗|火警(?!电话)|插座.{0,4}(?:烧|黑了)|烧(?:坏|黑|化)了|冒火星",
            r"\bexplo(?:sion|ded)\b|\bscorch\w*\b"
            r"|\bmelt(?:ed|ing)\b.{0,20}\b(?:socket|plug|wire|switch)",
        ),
    ),
    _Group(  # an alarm going off: not when it says there is no smoke, or the battery is low
        "fire",
        False,
        (
            r"烟雾报警器.{0,4}(?:响|叫|报警)|烟感.{0,4}(?:响|叫|报警)|消防警报.{0,4}(?:响|叫)",
            r"\bfire alarms?\b.{0,20}\b(?:going off|ringing|sounding|went off)\b",
        ),
        unless=r"没(?:有)?烟|没(?:有)?味|没电|电池|滴滴|灵敏|炒菜|做饭|测试"
        r"|\b(?:no smoke|battery|chirp\w*|toast|cooking|test\w*)\b",
    ),
    _Group(
        "fire",
        False,
        (
            r"糊味|烟味|烧.{0,3}味|好呛|呛人|呛得",
            r"\bsmoke smell\w*\b|\bsmell\w*\s+(?:of|like)\s+smoke\b|\bsmoky\b",
        ),
        smoke=True,
    ),
    _Group(
        "water",
        False,
        (
            r"(?:水管|管子|管道|软管|阀门|角阀|水表|暖气管|暖气片|热水管).{0,4}(?:断了|脱落|破了"
            r"|裂了|裂开|冻裂|爆)"
            r"|溢出|漫出|(?:水箱|马桶|水池|洗手池|浴缸).{0,4}(?:一直)?在?溢|冒水|返水|倒灌|反水"
            r"|水(?![印渍痕珠])\S{0,15}越来越(?:多|大)|水(?:势|量|流)?(?:好大|很大|特别大|太大)"
            r"|(?:漏|渗|滴)水.{0,6}(?:很严重|严重|特别大|很大|好大|不停|越来越大)"
            r"|(?:天花板|吊顶|屋顶).{0,4}鼓|水.{0,10}往下(?:流|淌|浇|灌)|水.{0,8}灌"
            r"|水从.{0,12}(?:流|冒|涌|喷|出来|往下)"
            r"|哗哗(?:地|的)?(?:流|漏|冒)|楼下.{0,6}(?:开始滴|也漏)|(?:下水道|窨井|井盖|地漏"
            r"|马桶).{0,6}(?:冒(?!泡|味|臭)|涌|漫|往上返|返上来)",
            r"\bburst\b|\boverflow\w*\b|\bsoaked\b|\bleaking like a (?:tap|sieve)\b"
            r"|\bdripping fast\b"
            r"|\bpouring\b|\bwater\b.{0,20}\b(?:coming|running|flowing|spreading)\b.{0,12}"
            r"\b(?:in|through|down|out|up|under|into|everywhere|from)\b"
            r"|\bleak\w*\s+(?:into|onto|through)\b.{0,25}\b(?:below|downstairs|ceiling"
            r"|neighbou?rs?)\b"
            r"|\bceiling\b.{0,20}\b(?:bulging|sagging)\b",
        ),
    ),
    _Group(
        "outage",
        False,
        (
            r"(?:家|屋|户|房|全屋|整栋|整幢|全楼|楼里|单元|小区|我们|都|也|全|整个|一点).{0,6}"
            r"(?:停电|没电|断电|停水|没水|断水|没有水|没有电)|(?:断电|断水|停电|停水)了"
            r"|一点(?:水|电)都没|没水没电|没电没水|水停了|电停了|还没来水|还没来电"
            r"|还是没(?:电|水)|(?:楼|小区|期|家|屋|单元).{0,4}(?:都|全)黑了|(?:电|水)被停了"
            r"|(?<!手机)(?<!快)没(?:水|电)了|(?:停电|停水)了?(?:吗|没有?)",
            r"\b(?:no|lost|without|zero)\s+(?:power|electricity|water|lights)\b"
            r"(?!\s+(?:pressure|bill))"
            r"|\b(?:power|electricity|water)\s+(?:is |has )?(?:cut|out|off|gone|been cut"
            r"|been off)\b"
            r"|\bblackout\b|\bpower cut\b|\bpower outage\b|\blost power\b|\ball dark\b"
            r"|\b(?:tower|building|block|flat|estate|whole \w+) is (?:all )?(?:dark|pitch black)\b"
            r"|\bpitch black\b",
        ),
    ),
    _Group(
        "threat",
        False,
        (
            r"乱砸|在砸|砸东西|跟踪|跟着我|翻墙|翻围墙|划车|试.{0,4}门把手|拧.{0,4}门把手|偷拍"
            r"|醉汉|耍酒疯|发酒疯"
            r"|抢|挨家挨户|有小偷|有贼"
            r"|陌生(?:人|男人?|女人?)在(?:我家|门口|楼道|窗)",
            r"(?:有人|有个人|有个男的|有个女的|一个男的|一个女的|陌生|可疑|醉汉|小偷|贼).{0,40}"
            r"(?:现在还在|还在门口|还没走|人还在|快来|快派|快叫|快点来|赶紧来|马上来|速来|快上来"
            r"|快过来"
            r"|已经(?:半个小时|十几分钟|几十分钟|好久))",
            r"\bfight\w*\b|\bbroke into\b|\bbreak-in\b|\bburglar alarm\b"
            r"|\btrying (?:every|the|our|my) door\w*\b|\bbanging on (?:my|our|the) door\b"
            r"|\bfollow\w* (?:me|my|us)\b|\bstalk\w*\b|\bcutting locks\b|\bsmash\w*\b"
            r"|\bthrowing\b.{0,25}\b(?:down|off)\b|\bas we speak\b|\bcreepy\b|\bdrunk\b"
            r"|\bstranger\b.{0,40}\b(?:hanging|inside|won't leave|knocking|lurking|following"
            r"|still)\b"
            r"|\bsomeone is in\b|\bthie(?:f|ves)\b.{0,20}\b(?:now|still)\b"
            r"|\b(?:looking|peering|peeking|staring) (?:in|into|through) (?:the |our "
            r"|my )?windows?\b",
        ),
        unless=r"传单|广告|推销|\b(?:flyers?|leaflets?|ads|adverts?|sales\w*|selling)\b",
    ),
    _Group(
        "falling",
        False,
        (
            r"要掉|快掉|随时(?:会|可能)?(?:掉|砸|倒|塌)|摇摇欲坠|砸下来|快倒了|要倒了|挂在半空"
            r"|半挂|"
            r"要塌|塌下来|塌了|差点(?:踩|掉)(?:下去|进去)|井盖(?:没了|丢了|碎了?|翻|被偷)|洞口敞着"
            r"|还在往下压"
            r"|往下掉|倒下来|空的井道|井道.{0,4}(?:空|敞)",
            r"\b(?:about to|going to|could|might)\s+(?:fall|collapse|come down)\b"
            r"|\bmanhole\b.{0,20}\b(?:missing|open|gone|broken)\b|\bfalling (?:down|off)\b"
            r"|\bcollaps\w*\b",
        ),
    ),
    _Group(
        "shock",
        False,
        (
            r"漏电(?!保护|开关|断路)|触电|电到人|被电到|电了一下|带电",
            r"\belectric(?:al)? shock\b|\belectrocut\w*\b|\blive wires?\b|\bgot shocked\b",
        ),
    ),
    # ---------------------------------------------------------------- more soft hints
    _Group(
        "falling",
        False,
        (
            r"(?:要|快|会)(?:整块|整个)?掉(?:下去|下来)|挂在(?:外面|半空|电线上|线上).{0,6}"
            r"(?:晃|摇)|(?:支架|架子|护栏|栏杆).{0,4}断(?:了)?.{0,6}(?:晃|挂|下面|底下)"
            r"|(?:瓷砖|外墙|墙皮|墙砖|玻璃|tiles?).{0,6}(?:一直|不停|还在|正在)在?掉"
            r"|(?:快|要)倒(?:了|下来)|(?:歪|斜)了.{0,8}(?:倒|压)",
            r"\bcould (?:drop|fall|come down) any\b|\bswinging in the wind\b"
            r"|\b(?:leaning|tilting)\b.{0,30}\b(?:road|path|cars?|people|over|onto)\b"
            r"|\bhanging (?:on|off|from|over) (?:the )?(?:wires?|power lines?|cables?)\b"
            r"|\btiles?\b.{0,20}\b(?:falling|dropping|coming off)\b",
        ),
    ),
    _Group(
        "shock",
        False,
        (
            r"电线.{0,6}(?:断了|垂|耷拉|掉在地|裸露|露出).{0,14}(?:地上|小孩|孩子|人|摸|碰)"
            r"|电线.{0,4}垂(?:在|到|下来)",
            r"\blive\b.{0,20}\b(?:cables?|wires?)\b|\b(?:cables?|wires?)\b.{0,40}\b(?:it's"
            r"|is|still) live\b|\bbuzz\w*\b.{0,30}\b(?:cables?|wires?)\b|\b(?:cables?|wires?)\b"
            r".{0,40}\bbuzz\w*\b",
        ),
    ),
    _Group(
        "threat",
        False,
        (
            r"(?:陌生|不认识).{0,20}(?:敲门|按门铃|密码|在门口)|(?:敲门|按门铃).{0,20}(?:不认识|陌生|没有?工牌"
            r"|不走)",
            r"\b(?:stranger|don't know (?:him|her|them)|unknown man)\b.{0,40}\b(?:knocking"
            r"|won't leave"
            r"|door)\b|\bknocking\b.{0,40}\b(?:won't leave|don't know)\b",
        ),
    ),
    _Group(
        "falling",
        False,
        (
            r"(?:在晃|晃来晃去|晃荡|晃动).{0,12}(?:下面|底下|人|路)|螺丝.{0,6}掉|(?:碎|断|裂)了一半.{0,6}挂"
            r"|挂在.{0,6}(?:上面|上方).{0,8}(?:有人|人在|下面)",
            r"\bdangling\b|\bflapping\b|\bhanging at an angle\b|\bcome away from the wall\b",
        ),
    ),
    _Group(
        "shock",
        False,
        (
            r"电了我|摸一下麻一下|麻一下|(?:按钮|把手|门把|栏杆|扶手|外壳).{0,4}有电|\bshock\s*了"
            r"|露着的?(?:铜线|线)|能看到铜线|线(?:是|全)?露着",
            r"\belectric(?:al)? shocks\b|\bshock(?:ed|s)? (?:me|my|him|her|us|people|someone)\b"
            r"|\bjolt\b|\b(?:buttons?|handles?|railings?|doors?)\b.{0,10}\b(?:are|is) live\b"
            r"|\b(?:downed|fallen|loose) (?:power )?(?:wire|cable|line)s?\b|\bcopper showing\b",
        ),
    ),
    _Group(  # water reaching sockets or wiring
        "water",
        False,
        (
            r"(?:漏|滴|渗|水).{0,20}(?:插座|插板|插线板|电线|电箱|配电箱|电表箱)"
            r"|(?:插座|插板|插线板|电箱|配电箱|电表箱).{0,6}(?:湿|进水|有水)",
            r"\b(?:drip\w*|leak\w*|water)\b.{0,30}\b(?:sockets?|outlets?|wiring|plugs?"
            r"|switchboard|fuse ?box)\b|\b(?:pipe|hose)\b.{0,10}\b(?:snapped|broke off|came off"
            r"|split)\b",
        ),
    ),
)

SIGNALS: tuple[str, ...] = (
    "trapped",
    "gas",
    "fire",
    "water",
    "outage",
    "threat",
    "falling",
    "shock",
)
HARD_KINDS: frozenset[str] = frozenset(g.kind for g in _GROUPS if g.hard)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    patterns = list(patterns)
    return _rx("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def _required(items: Any) -> frozenset[str] | None:
    """Literal strings of which every match of the parsed pattern contains at least one.

    None when no such set can be told (the pattern may match without any literal).
    """
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            candidates.append(frozenset({"".join(run).lower()}))
            run.clear()

    for op, av in items:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        close_run()
        sub: frozenset[str] | None = None
        if op is _sre.SUBPATTERN:
            sub = _required(av[-1])
        elif op is _sre.BRANCH:
            parts = [_required(b) for b in av[1]]
            if all(part is not None for part in parts):
                sub = frozenset().union(*parts)  # type: ignore[arg-type]
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            sub = _required(av[2])
        elif op is _sre.IN and all(o is _sre.LITERAL for o, _ in av):
            sub = frozenset(chr(v).lower() for _, v in av)
        if sub:
            candidates.append(sub)
    close_run()
    if not candidates:
        return None
    # The most selective: the longest shortest string, then the fewest strings.
    return max(candidates, key=lambda c: (min(len(x) for x in c), -len(c)))


def _gate(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """A fast pre-check (on lower-cased text) that every match of the patterns passes."""
    needed: set[str] = set()
    for p in patterns:
        req = _required(_parser.parse(p, re.IGNORECASE))
        if req is None:
            return None
        needed |= req
    return re.compile("|".join(re.escape(x) for x in sorted(needed, key=lambda x: (-len(x), x))))


# Each group as (group, gate, Chinese patterns, English patterns). A pattern with a Chinese
# character in it needs Chinese text to match, one without needs Latin letters, so a clause in
# one language skips the other's patterns; and a message without any of the literals a group's
# patterns require (the gate, derived from the patterns themselves) skips the group.
_Rx = re.Pattern[str] | None
_Compiled = tuple[_Group, _Rx, _Rx, _Rx, _Rx]  # group, gate, Chinese, English, unless
_COMPILED: tuple[_Compiled, ...] = tuple(
    (
        g,
        _gate(g.patterns),
        _compile(p for p in g.patterns if _CJK.search(p)),
        _compile(p for p in g.patterns if not _CJK.search(p)),
        _rx(g.unless) if g.unless else None,
    )
    for g in _GROUPS
)

# The danger is over, was never there, is hypothetical or general advice, or the owner says it
# can wait.
_RESOLVED = _rx(
    r"修好|弄好|处理好|已经好了|已经恢复|恢复了|已恢复|恢复正常|正常了|来水了|来电了|没事了"
    r"|还好没事|"
    r"幸好|幸亏|解决了|已解决|已处理|不漏了|不冒了|散了|没味了|没有味道了|消失了|"
    r"排除了|虚惊|误报|演习|演练|测试|培训|讲座|宣传|如果|万一|要是|假如|假设|预防|防范|"
    r"还以为|原来是|"
    r"听说|新闻|别的小区|隔壁小区|迟早|早晚(?:会|要)|总有一天|"
    r"的话|遇到.{0,12}(?:怎么办|该怎么|怎么处理|如何处理)|发生.{0,12}(?:怎么办|该怎么|怎么处理)"
    r"|应急预案|安全知识|消防知识|注意事项|"
    r"提醒大家|温馨提示|不急|不着急|不用急|有空|方便的时候|偶尔|有时候|一点点|淡淡|"
    r"\b(?:fixed|repaired|resolved|sorted|no longer|not anymore|anymore|any more|all good|"
    r"back on|restored|false alarm|drills?|what if|in case|how (?:do|should|can) (?:i|we)|gone now"
    r"|"
    r"it's gone(?!\s+(?:black|brown|dark|off|out|quiet|up|down))|went away|fine now|ok now"
    r"|okay now|working again|back to normal|"
    r"what should (?:i|we) do if|what (?:to|do (?:i|we|you)) do if|if there(?:'s| is)|"
    r"if (?:you|i|we) (?:ever )?(?:smell|see|notice|hear)|(?:call|contact|ring|do|happens|number"
    r"|phone) if|"
    r"panic over|all clear|it was (?:just|only)|not urgent|no rush|whenever|sometime|"
    r"heard that|in the news|another estate|other estate|sooner or later|waiting to happen|"
    r"thought it was|turned out|"
    r"when you can|when you have time|faint(?:ly)? smell\w*|faintly|slight(?:ly)?|a tiny bit|"
    r"tiny)\b"
)
# Kind-specific: the people are out, the fire is out, the water is shut off.
_RESOLVED_KIND: dict[str, re.Pattern[str]] = {
    "trapped": _rx(
        r"已经出来|(?<!没)(?<!不)出来了|救出来|没人在里面|没有人在里面|\b(?:got out|are out|is out"
        r"|got them out)\b"
    ),
    "fire": _rx(
        r"没有火|没着火|没看到火|关了总闸|拉了闸|灭了|扑灭|\b(?:no fire|put (?:it )?out"
        r"|extinguished)\b"
    ),
    "water": _rx(
        r"阀.{0,3}关(?:了|掉|上)|关(?:了|掉|上)了?.{0,3}阀|关了总闸|"
        r"\b(?:turned|shut|switched) off the (?:main|valve|water|stopcock)\b|\bshut it off\b"
    ),
}
# The event is in the past …
_PAST = _rx(
    r"昨天|昨晚|前天|上周|上星期|上礼拜|上次|上个月|之前|以前|去年|那天|前几天|那次|"
    r"\b(?:yesterday|last night|the other day|last week|last month|earlier this week|was stolen|"
    r"got stolen|were stolen|has been stolen|have been stolen|a few days ago|days ago|last time|"
    r"weeks ago|last year)\b"
)
# … unless the clause says it is still going on.
_PRESENT = _rx(
    r"(?<!到)现在|到现在(?:还|都|也)?(?:在|是|没水|没电|没来|不)|还在|仍然|依然|一直|还是|又|正在"
    r"|快来|快派|马上|"
    r"赶紧|开始|"
    r"\b(?:now|still|again|right now|currently|at the moment|as we speak|ongoing|since)\b"
)
# Habits are complaints, not threats in progress.
_HABIT = _rx(
    r"每天|每晚|天天|经常|总是|老是|每次|每周|"
    r"\b(?:every|always|keeps?|often|usually|all the time|at night)\b"
)
# An outage that is planned, asked about in advance, or a matter of topping up the meter.
_PLANNED = _rx(
    r"明天|后天|下周|下个月|计划|预计|检修|通知|几点停|停水时间|停电时间|会不会|是不是要|会停|要停"
    r"|"
    r"充值|电费用完|电费没了|没交电费|交电费|冲电费|"
    r"\b(?:tomorrow|next|scheduled|planned|maintenance|notice|will there|is there going|affecting|"
    r"on (?:mon|tues|wednes|thurs|fri|satur|sun)day|top ?up|prepaid|credit)\b"
)
_PLANNED_OVERRIDE = _rx(
    r"还没|还是没|到现在|小时|个钟|没(?:有)?(?:收到|看到|接到|见到)?.{0,4}通知|没通知|无通知|超时"
    r"|\b(?:still|hasn't|hours?|no (?:notice|warning)|without (?:any )?(?:notice|warning)"
    r"|nobody told)\b"
)
# "修好了 今天又漏了": a fix that did not hold; "关了阀还在流": still going.
_AGAIN = _rx(r"又|再次|\bagain\b")
_STILL = _rx(r"还在|仍然|依然|还是|\bstill\b")
# A clause about a planned cut (a notice, a question about one) reports no danger of any kind.
_CUT = _rx(
    r"停水|停电|停气|断水|断电|\b(?:water|power|gas|electricity) (?:cut|outage|shut-?off)s?\b"
    r"|\boutages?\b"
)
# Only part of the flat is out: one socket, the hot water, the kitchen.
_PART_ONLY = _rx(
    r"插座|热水|一个房间|半边|只有|烟感|报警器|电池|遥控|门锁|手机|电瓶|电动车"
    r"|\b(?:socket|outlet|hot water|one room|only the|battery|batteries|phone)\b"
)
# Per-kind negations right before the match: "没有煤气味", "no smell of gas", "not smoke".
_NEG_BEFORE = _rx(
    r"(?:没有|没|无|(?<!是)不是|并没|未|不再|别|不)\s*(?:闻到|发现|看到|听到)?\s*$"
    r"|\b(?:no|not|never|without|nothing|don't|doesn't|didn't|isn't|wasn't|no more)\b"
    r"(?:\s+\w+){0,2}\s*$"
)
_NEGATABLE = frozenset({"gas", "fire", "water", "trapped", "shock", "threat"})
_CLAUSE_SPLIT = re.compile(
    r"[。！？!?；;\n]+|\.(?:\s+|$)|(?:但是|但|可是|不过|结果|现在又|又开始|然而)"
    r"|\b(?:but|however|now again|and now|though)\b",
    re.IGNORECASE,
)
# Smoke from cooking, barbecues, incense or cigarettes is a nuisance, not a fire.
_SMOKE_NUISANCE = _rx(
    r"抽.{0,2}烟|吸烟|烟头|香烟|烟民|二手烟|烧烤|油烟(?!机)|烧纸|烟花|鞭炮|爆竹|烟囱|做饭|炒菜|烧菜|煮饭"
    r"|炒辣椒"
    r"|锅(?!炉)|蚊香|艾灸|烧香|点香|熏|"
    r"\b(?:smok(?:ing|es|er|ers)|cigarettes?|cigars?|bbq|barbecues?|grill\w*|fireworks?"
    r"|firecrackers?"
    r"|cooking|cook|vap(?:e|ing)|incense|hazard|risk|toast|pan)\b"
)
# "烟头乱扔 着火了怎么办": a smoker is a fire hazard, which is a complaint, not a fire.
_FIRE_WORRY = _rx(
    r"怎么办|咋办|谁负责|谁来负责|隐患|\b(?:hazard|what if|could start|might start)\b"
)

# A space between Chinese and Latin letters lets \b see English words inside Chinese text.
_CJK_LATIN = re.compile(r"(?<=[\u4e00-\u9fff])(?=[A-Za-z])|(?<=[A-Za-z])(?=[\u4e00-\u9fff])")
# Garden watering is a greening repair, not a flood.
_IRRIGATION = _rx(
    r"喷灌|浇水|浇灌|洒水|花坛|草坪|草地|绿化带|\b(?:lawns?|irrigation|garden (?:hose"
    r"|sprinklers?))\b"
)
# Overflowing bins are a cleaning job.
_GARBAGE = _rx(r"垃圾|\b(?:rubbish|bins?|trash|garbage)\b")
# Cats and dogs fighting are not a threat.
_ANIMALS = _rx(r"猫(?!眼)|狗|鸟|\b(?:cats?|dogs?|birds?|pigeons?|kittens?|puppies)\b")


@dataclass(frozen=True)
class Signals:
    """The kinds of danger a message reports as happening now."""

    hard: tuple[str, ...] = ()
    soft: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        found = set(self.hard) | set(self.soft)
        return tuple(k for k in SIGNALS if k in found)

    def __bool__(self) -> bool:
        return bool(self.hard or self.soft)


_NONE = Signals()


def split_clauses(text: str) -> list[str]:
    """Split a message into clauses at sentence ends and contrastive connectives."""
    return [c for c in _CLAUSE_SPLIT.split(text) if c and c.strip()]


def _first_live_match(clause: str, kind: str, patterns: Iterable[re.Pattern[str] | None]) -> bool:
    """True when a pattern matches and the match is not negated right before it."""
    for pattern in patterns:
        if pattern is None:
            continue
        for m in pattern.finditer(clause):
            if kind in _NEGATABLE and _NEG_BEFORE.search(
                clause[max(0, m.start() - 12) : m.start()]
            ):
                continue
            return True
    return False


def _clause_blocked(clause: str) -> tuple[bool, bool]:
    """(nothing in this clause counts, the clause is about a planned cut or a top-up)."""
    if _RESOLVED.search(clause) and not _AGAIN.search(clause):
        return True, False
    if _PAST.search(clause) and not _PRESENT.search(clause):
        return True, False
    planned = _PLANNED.search(clause) is not None and not _PLANNED_OVERRIDE.search(clause)
    return planned and _CUT.search(clause) is not None, planned


def _kind_excluded(
    kind: str, clause: str, planned: bool, nuisance: bool, scoped: bool = False
) -> bool:
    """Kind-specific reasons why a match in this clause is not danger now."""
    resolved = _RESOLVED_KIND.get(kind)
    if resolved is not None and resolved.search(clause) and not _STILL.search(clause):
        return True
    if kind == "water":
        return bool(_IRRIGATION.search(clause) or _GARBAGE.search(clause))
    if kind == "threat":
        return bool(
            _ANIMALS.search(clause) or (_HABIT.search(clause) and not _PRESENT.search(clause))
        )
    if kind == "outage":
        return planned or (not scoped and _PART_ONLY.search(clause) is not None)
    if kind == "fire":
        return nuisance and _FIRE_WORRY.search(clause) is not None
    return False


def _clause_signals(
    clause: str, groups: Iterable[_Compiled], nuisance: bool, found: set[tuple[str, bool]]
) -> Iterable[tuple[str, bool]]:
    """(kind, hard) for every group that fires in this clause (and was not ``found`` yet)."""
    zh_ok = _CJK.search(clause) is not None
    en_ok = _LATIN.search(clause) is not None
    if not (zh_ok or en_ok):
        return
    state: tuple[bool, bool] | None = None  # computed once, when a pattern first matches
    for group, _, zh, en, unless in groups:
        key = (group.kind, group.hard)
        if key in found:
            continue
        if not _first_live_match(
            clause, group.kind, (zh if zh_ok else None, en if en_ok else None)
        ):
            continue
        if state is None:
            state = _clause_blocked(clause)
        blocked, planned = state
        if blocked:
            return
        if _kind_excluded(group.kind, clause, planned, nuisance, group.scoped):
            continue
        if unless is not None and unless.search(clause):
            continue
        yield key


def scan(text: str, *, soft: bool = True) -> Signals:
    """The hard and soft kinds of danger the message reports as happening now.

    With ``soft=False`` only the hard rules are tried (the NLU skips the soft ones when the
    classifier has already ruled the message out).
    """
    if not text or not text.strip():
        return _NONE
    norm = _CJK_LATIN.sub(" ", unicodedata.normalize("NFKC", text[:_MAX_TEXT]))
    lower = norm.lower()
    groups = [
        c
        for c in _COMPILED
        if (soft or c[0].hard) and (c[1] is None or c[1].search(lower) is not None)
    ]
    if not groups:
        return _NONE
    nuisance = _SMOKE_NUISANCE.search(norm) is not None
    if nuisance:
        groups = [c for c in groups if not c[0].smoke]
    found_hard: set[str] = set()
    found_soft: set[str] = set()
    for clause in split_clauses(norm):
        found = {(k, True) for k in found_hard} | {(k, False) for k in found_soft}
        for kind, is_hard in _clause_signals(clause, groups, nuisance, found):
            (found_hard if is_hard else found_soft).add(kind)
    if not found_hard and not found_soft:
        return _NONE
    return Signals(
        hard=tuple(k for k in SIGNALS if k in found_hard),
        soft=tuple(k for k in SIGNALS if k in found_soft and k not in found_hard),
    )


def urgent_signals(text: str) -> tuple[str, ...]:
    """Return the kinds of danger (hard or soft) the message reports as happening now."""
    return scan(text).kinds


def hard_signals(text: str) -> tuple[str, ...]:
    """Return the kinds of danger found by hard rules: urgent on their own."""
    return scan(text).hard


def rule_urgent(text: str) -> bool:
    """True when the lexicon finds danger happening now (hard or soft)."""
    return bool(scan(text))
