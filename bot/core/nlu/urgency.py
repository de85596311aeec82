"""Urgency rules: danger to people or property *now*, in Chinese and English.

The lexicon layer does not depend on the intent model. It looks for six kinds of danger
(LABELS.md): someone trapped, gas, fire / smoke / sparks / burning smell, water pouring or
flooding or a burst pipe, a whole flat or building without power or water, and a threat in
progress; plus electric shocks and things about to fall on people (a window hanging loose, an
open manhole), which the corpus labels urgent too. It works clause by clause, so a clause that
says the danger is over, never was, is planned or is hypothetical (``昨天的漏水已经修好了``,
``no gas smell anymore``, ``如果着火了怎么办``, ``明天停水吗``) does not count, while ``the leak
was fixed but now water is pouring again`` still does. Threats and past events must still be
going on (``昨天有人打架`` is a complaint, not an emergency).

:func:`urgent_signals` returns the kinds found; :func:`rule_urgent` says whether any was found.
The NLU combines this with a trained classifier (see ``train.py``): a message is urgent when
the classifier is confident, or when a rule fires and the classifier does not rule it out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["SIGNALS", "rule_urgent", "split_clauses", "urgent_signals"]

_MAX_TEXT = 4000

_PEOPLE_EN = (
    r"(?:i|i'm|im|we|we're|were|me|us|my|our|someone|somebody|people|ppl|person|persons|kids?|"
    r"child(?:ren)?|baby|son|daughter|mum|mom|mother|dad|father|husband|wife|grandma|grandpa|"
    r"old|elderly|lady|man|woman|guy|delivery|neighbou?r|resident|they|he|she|\d+\s*(?:people|ppl))"
)

_PATTERNS: dict[str, list[str]] = {
    "trapped": [
        r"困人|被困|困在|困住|关在电梯|卡在电梯|人被关"
        r"|电梯.{0,6}(?:关着人|困着|卡着人|人出不来)|(?:电梯|轿厢|里面|关在).{0,8}出不来"
        r"|电梯.{0,20}(?:(?<!没)(?<!没有)(?:人|我|孩子|小孩|老人|孕妇|他|她|我们)(?:还)?在里面"
        r"|里面(?:好像)?(?:还)?有人|人还在|还有人|困了|卡了人)"
        r"|(?:困|卡|关)电梯|救命.{0,3}电梯|人还在里面|里面有(?:人|小孩|孩子|老人)"
        r"|(?:我|我们|孩子|小孩|老人|孕妇|他|她|阿姨)(?:和.{1,3})?(?:还)?在(?:电梯|轿厢)?里面"
        r"|夹住了?(?:人|手|老人|小孩|孩子|腿)|夹住了.{0,3}的(?:手|腿|脚)|(?:卡|压)在下面",
        r"电梯.{0,8}(?:下坠|坠落|溜梯|冲顶|掉下|往下掉|突然掉)|(?:开着门|门开着).{0,4}(?:运行|走|上下)",
        r"\btrapped\b",
        rf"\b{_PEOPLE_EN}(?:'s|'re)?\s+(?:is |are |was |were |got |has been |have been )?"
        r"(?:stuck|locked)\s+(?:in|inside)\b",
        r"\bstuck\s+(?:in|inside)\s+(?:the |a |our |that )?(?:\w+ )?(?:lift|elevator)s?\b",
        r"\bstuck\b.{0,40}\b(?:inside|with\b.{0,20}\binside)\b",
        rf"\b(?:lift|elevator)s?\b.{{0,50}}\b(?:we're|we are|{_PEOPLE_EN})\s+(?:is |are )?"
        r"(?:still )?(?:inside|in (?:it|them|there))\b",
        r"\b(?:lift|elevator)\b.{0,30}\b(?:dropped|fell|plunged|moving with the doors? open)\b",
        r"\bdoors? opened between floors\b",
    ],
    "gas": [
        r"(?:煤气|燃气|天然气|液化气|瓦斯)(?:的)?.{0,6}(?:味|泄漏|泄露|漏气|漏了|在漏|嘶嘶|臭)"
        r"|(?:闻到|有股|一股|好大的?|很浓的?|好浓的?).{0,4}(?:煤气|燃气|天然气)"
        r"|(?:煤气|燃气|天然气)\s*(?:smell|leak|odou?r)|(?:燃气|煤气)(?:管|表|阀|灶).{0,6}(?:漏|破|裂|断)",
        r"燃气报警器.{0,4}(?:响|叫|报警)|一氧化碳",
        r"\bgas\b.{0,4}\b(?:smell\w*|leak\w*|odou?r|stink\w*)\b"
        r"|\b(?:smell\w*|stinks?|reeks?|odou?r)\b.{0,12}\bgas\b|\bgas\b.{0,30}\bhiss\w*"
        r"|\bgas\s+(?:pipe|line|meter|valve|hose|stove|cooker|tank|bottle)\b.{0,25}\b(?:leak\w*|hiss\w*)",
        r"\b(?:co|carbon monoxide)\s+(?:alarm|detector)\b.{0,20}\b(?:going off|beeping|ringing)\b"
        r"|\bcarbon monoxide\b",
    ],
    "fire": [
        r"(?<!真)(?<!真的)(?<!要是)着火|起火|失火|火灾(?!隐患|报警)|火警|冒烟|冒黑烟|冒白烟|浓烟|黑烟|烟雾弥漫|"
        r"烧起来|窜火|明火|冒火|火花|打火花|电火花|烧焦|焦味|糊味|焦糊|烧着了|纵火|自燃|爆炸|噼里啪啦|噼啪",
        r"(?:电线|插座|插头|电箱|电表箱|配电箱|开关|电闸|线路).{0,6}(?:烧|冒烟|冒火|着火|炸|火)",
        r"(?:有|好多|很大的?|一股).{0,2}烟(?!花|头|酒|民|草|灰缸)",
        r"\bon fire\b|\bflames?\b|\bblaze\b|\bspark(?:s|ing|ed)?\b|\bexplo(?:sion|ded)\b",
        r"(?<!they )(?<!people )(?<!who )(?<!to )(?<!i )(?<!we )(?<!you )(?<!don't )"
        r"\bsmoke\b(?!\s*(?:alarms?|detectors?|free)\b(?!.{0,30}\b(?:smoke|fire|burn)))"
        r"(?!\s+(?:on|in|at|out|every|all|near|outside|inside|cigarettes?|weed)\b)",
        r"\bburn(?:ing|t)\b.{0,20}\bsmell\w*\b|\bsmell\w*\b.{0,20}\bburn(?:ing|t)\b"
        r"|\b(?:something|it|plastic|wires?)\b.{0,10}\b(?:is |'s )?burning\b",
        r"\bfire\b(?!\s*(?:lanes?|exits?|doors?|escapes?|extinguishers?|drills?|hydrants?|safety"
        r"|access|routes?|engines?|trucks?|alarms?\s+tests?|stairs?|station|insurance|inspection"
        r"|hazards?|risks?|code|regulations?|prevention|brigade\s+access"
        r"|him|her|them|that|this|the|those|these|whoever|someone|your)\b)",
    ],
    "water": [
        r"爆管|爆裂|(?:水管|管子|管道|水龙头|龙头|软管|阀门|水表|暖气管|暖气片|热水管|冷水管|排污管|下水管)"
        r".{0,4}(?:爆|裂开|崩|断了|脱落|飞了|破了)",
        r"水.{0,4}(?:喷|涌|灌进|止不住|关不住|往外冒|冒出来|漫|淌了一地|流了一地|越来越多|越积越多)"
        r"|(?:喷|涌)水|往外(?:喷|涌)|水从.{0,12}(?:流|冒|涌|喷|出来|往下)|水.{0,8}灌|成河|漫水|水漫|淹了|"
        r"被淹|水淹|淹水|倒灌.{0,2}水|反水|(?:家里|屋里|房间)进水了|到处都是水|一地的?水|"
        r"满地(?:都是)?水|全是(?:污水|臭水)|家里全是水|(?:没过|淹到|淹没).{0,3}(?:脚|膝|轮|车)"
        r"|水.{0,10}往下(?:流|淌|浇|灌)|漫出|溢出|(?:水箱|马桶|水池).{0,4}(?:一直)?在?溢|喷得|滋(?:热)?水|往外滋"
        r"|泡在水里|(?:地下室|储藏室|车库|家里|屋里|房间)进水|哗哗(?:地)?(?:淌|流|往下)|水柱"
        r"|水(?![印渍痕珠])\S{0,15}越来越(?:多|大)|水(?:势|量|流)?(?:好大|很大|特别大|太大)"
        r"|(?:天花板|吊顶|屋顶).{0,4}鼓",
        r"(?:漏|渗|滴)水.{0,6}(?:很严重|严重|特别大|很大|好大|止不住|不停|越来越大|像下雨)"
        r"|(?:天花板|屋顶|吊顶|顶灯|灯|墙).{0,8}(?:哗哗|大量|一直往下|像下雨|往下流)"
        r"|哗哗.{0,6}(?:天花板|往下|漏)|楼下.{0,6}(?:开始滴|也漏)",
        r"(?:污水|粪水|下水道|化粪池|窨井|井盖).{0,6}(?:冒|溢|涌|倒灌|漫|反|往上返|返上来)",
        r"\bburst\b|\bflood(?:s|ed|ing)?\b(?!-?proof)|\bpouring\b|\bgushing\b|\bwater everywhere\b"
        r"|\b(?:water|pipe|hose|tap|valve|sewage|toilet|manhole|sewer)\b.{0,25}"
        r"\b(?:spraying|spurting|shooting out|gushing)\b"
        r"|\b(?:sewage|toilet|manhole|sewer)\b.{0,25}\boverflow\w*\b"
        r"|\bleaking like a tap\b|\bdripping fast\b"
        r"|\bwater\b.{0,20}\b(?:coming|running|pouring|rushing|flowing|spreading|streaming)\b"
        r".{0,12}\b(?:in|through|down|out|up|under|into|everywhere|from)\b"
        r"|\bleak\w*\s+(?:into|onto|through)\b.{0,25}\b(?:below|downstairs|ceiling|neighbou?rs?)\b"
        r"|\bsoaked\b|\bcollapse\b|\bceiling\b.{0,20}\bbulging\b",
    ],
    "outage": [
        r"(?:家|屋|户|房|全屋|整栋|整幢|全楼|楼里|单元|小区|我们|都|也|全|整个|一点).{0,6}"
        r"(?:停电|没电|断电|停水|没水|断水|没有水|没有电)|(?:断电|断水|停电|停水)了"
        r"|一点(?:水|电)都没|没水没电|没电没水|水停了|电停了|还没来水|还没来电"
        r"|还是没(?:电|水)|(?:楼|小区|期|家|屋|单元).{0,4}(?:都|全)黑了|(?:电|水)被停了",
        r"\b(?:no|lost|without|zero)\s+(?:power|electricity|water|lights)\b"
        r"(?!\s+(?:pressure|bill))"
        r"|\b(?:power|electricity|water)\s+(?:is |has )?(?:cut|out|off|gone|been cut|been off)\b"
        r"|\bblackout\b|\bpower cut\b|\bpower outage\b|\blost power\b|\ball dark\b"
        r"|\bpitch black\b",
    ],
    "threat": [
        r"打架|打人|打起来|打(?:老人|小孩|孩子|女人)|斗殴|群架|持刀|拿刀|拿着刀|拿棍|拿着棍|动刀|"
        r"砸车|砸门|砸窗|撬.{0,4}(?:门|锁|窗|车)|捅.{0,3}锁|正在偷|在偷|偷车|入室|闯入|闯进|翻墙|翻围墙|纵火|喊救命|"
        r"呼救|跟踪|跟着我|踹.{0,4}门|抢劫|抢包|划车|试门把手|拧门把手|流血|砍人|打伤|家暴"
        r"|陌生(?:人|男人?|女人?)在(?:我家|门口|楼道|窗)",
        r"(?:有人|有个人|有个男的|有个女的|一个男的|一个女的|陌生|可疑|醉汉|小偷|贼).{0,40}"
        r"(?:现在还在|还在门口|还没走|人还在|快来|快派|快叫|快点来|赶紧来|马上来|速来|快上来|快过来"
        r"|已经(?:半个小时|十几分钟|几十分钟|好久))",
        r"\bfight\w*\b|\bpunch\w*\b|\bknife\b|\bweapon\b|\bbleeding\b|\bstabb\w*\b"
        r"|\bbreak\w* in\w*\b|\bbroke into\b|\bburglar\w*\b|\bintruder\b|\bpry\w* open\b"
        r"|\btrying (?:every|the|our|my) door\w*\b|\bbanging on (?:my|our|the) door\b"
        r"|\bfollow\w* (?:me|my|us)\b|\bstalk\w*\b|\bcutting locks\b|\bsmash\w*\b"
        r"|\bthrowing\b.{0,25}\b(?:down|off)\b|\bas we speak\b|\bcreepy\b"
        r"|\bstranger\b.{0,40}\b(?:hanging|inside|won't leave|knocking|lurking|following|still)\b"
        r"|\bsomeone is (?:trying|breaking|in)\b|\bthie(?:f|ves)\b.{0,20}\b(?:now|still)\b",
    ],
    "falling": [
        r"要掉|快掉|随时(?:会|可能)?(?:掉|砸|倒|塌)|摇摇欲坠|砸下来|快倒了|要倒了|挂在半空|半挂|"
        r"要塌|塌下来|差点(?:踩|掉)(?:下去|进去)|井盖(?:没了|丢了|碎了?|翻|被偷)|洞口敞着|还在往下压",
        r"\b(?:about to|going to|could|might)\s+(?:fall|collapse|come down)\b"
        r"|\bmanhole\b.{0,20}\b(?:missing|open|gone|broken)\b|\bfalling (?:down|off)\b",
    ],
    "shock": [
        r"漏电(?!保护|开关|断路)|触电|电到人|被电到|电了一下|带电",
        r"\belectric(?:al)? shock\b|\belectrocut\w*\b|\blive wires?\b|\bgot shocked\b",
    ],
}

SIGNALS: tuple[str, ...] = tuple(_PATTERNS)
_COMPILED: dict[str, re.Pattern[str]] = {
    k: re.compile("|".join(f"(?:{p})" for p in v), re.IGNORECASE) for k, v in _PATTERNS.items()
}


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# The danger is over, was never there, is hypothetical, or the owner says it can wait.
_RESOLVED = _rx(
    r"修好|弄好|处理好|已经好了|已经恢复|恢复了|已恢复|来水了|来电了|没事了|还好没事|幸好|幸亏|"
    r"解决了|已解决|已处理|不漏了|不冒了|散了|没味了|没有味道了|消失了|"
    r"排除了|虚惊|误报|演习|演练|测试|培训|讲座|宣传|如果|万一|要是|假如|假设|预防|防范|"
    r"提醒大家|温馨提示|不急|不着急|不用急|有空|方便的时候|偶尔|有时候|一点点|淡淡|"
    r"\b(?:fixed|repaired|resolved|sorted|no longer|not anymore|anymore|any more|all good|"
    r"back on|restored|false alarm|drill|what if|in case|how (?:do|should|can) (?:i|we)|gone now|"
    r"it's gone|went away|"
    r"what should (?:i|we) do if|if there(?:'s| is)|not urgent|no rush|whenever|sometime|"
    r"when you can|when you have time|faint(?:ly)? smell\w*|faintly|slight(?:ly)?|a tiny bit|"
    r"tiny)\b"
)
# Kind-specific: the people are out, there is no fire, the water is shut off.
_RESOLVED_KIND: dict[str, re.Pattern[str]] = {
    "trapped": _rx(
        r"已经出来|人出来了|救出来|没人在里面|没有人在里面|\b(?:got out|are out|is out)\b"
    ),
    "fire": _rx(r"没有火|没着火|没看到火|关了总闸|拉了闸|\bno fire\b"),
    "water": _rx(
        r"阀.{0,3}关(?:了|掉|上)|关(?:了|掉|上)了?.{0,3}阀|关了总闸|"
        r"\b(?:turned|shut|switched) off the (?:main|valve|water|stopcock)\b|\bshut it off\b"
    ),
}
# The event is in the past …
_PAST = _rx(
    r"昨天|昨晚|前天|上周|上次|上个月|之前|以前|去年|那天|前几天|那次|"
    r"\b(?:yesterday|last night|the other day|last week|last month|earlier this week|was stolen|"
    r"got stolen|were stolen|has been stolen|have been stolen|a few days ago|days ago|last time)\b"
)
# … unless the clause says it is still going on.
_PRESENT = _rx(
    r"现在|还在|仍然|依然|一直|到现在|还是|又|正在|快来|快派|马上|赶紧|开始|"
    r"\b(?:now|still|again|right now|currently|at the moment|as we speak|ongoing|since)\b"
)
# Habits are complaints, not threats in progress.
_HABIT = _rx(
    r"每天|每晚|天天|经常|总是|老是|每次|每周|"
    r"\b(?:every|always|keeps?|often|usually|all the time|at night)\b"
)
# An outage that is planned, asked about in advance, or a matter of topping up the meter.
_PLANNED = _rx(
    r"明天|后天|下周|下个月|计划|预计|检修|通知|几点停|停水时间|停电时间|会不会|是不是要|会停|要停|"
    r"充值|电费用完|电费没了|没交电费|交电费|冲电费|"
    r"\b(?:tomorrow|next|scheduled|planned|maintenance|notice|will there|is there going|affecting|"
    r"on (?:mon|tues|wednes|thurs|fri|satur|sun)day|top ?up|prepaid|credit)\b"
)
_PLANNED_OVERRIDE = _rx(r"还没|还是没|到现在|小时|个钟|\b(?:still|hasn't|hours?)\b")
# Only part of the flat is out: one socket, the hot water, the kitchen.
_PART_ONLY = _rx(r"插座|热水|一个房间|半边|只有|\b(?:socket|outlet|hot water|one room|only the)\b")
# Per-kind negations right before the match: "没有煤气味", "no smell of gas", "not smoke".
_NEG_BEFORE = _rx(
    r"(?:没有|没|无|(?<!是)不是|并没|未|不再|别|不)\s*(?:闻到|发现|看到|听到)?\s*$"
    r"|\b(?:no|not|never|without|nothing|don't|doesn't|didn't|isn't|wasn't|no more)\b"
    r"(?:\s+\w+){0,2}\s*$"
)
_NEGATABLE = frozenset({"gas", "fire", "water", "trapped", "shock"})
_CLAUSE_SPLIT = re.compile(
    r"[。！？!?；;\n]+|(?:但是|但|可是|不过|结果|现在又|又开始|然而)"
    r"|\b(?:but|however|now again|and now|though)\b",
    re.IGNORECASE,
)
# Smoke from cooking, barbecues or cigarettes is a nuisance, not a fire.
_SMOKE_NUISANCE = _rx(
    r"抽烟|吸烟|烟头|香烟|烧烤|油烟|烧纸|烟花|鞭炮|爆竹|烟囱|\b(?:smoking|cigarettes?|bbq|barbecue|"
    r"fireworks?|firecrackers?|cooking|vaping?|hazard|risk)\b"
)


# A space between Chinese and Latin letters lets \b see English words inside Chinese text.
_CJK_LATIN = re.compile(r"(?<=[\u4e00-\u9fff])(?=[A-Za-z])|(?<=[A-Za-z])(?=[\u4e00-\u9fff])")
# Garden watering is a greening repair, not a flood.
_IRRIGATION = _rx(r"喷灌|浇水|浇灌|洒水|花坛|草坪|草地|绿化带|\b(?:lawn|irrigation|garden hose)\b")

# Overflowing bins are a cleaning job.
_GARBAGE = _rx(r"垃圾|\b(?:rubbish|bins?|trash|garbage)\b")


def split_clauses(text: str) -> list[str]:
    """Split a message into clauses at sentence ends and contrastive connectives."""
    return [c for c in _CLAUSE_SPLIT.split(text) if c and c.strip()]


def _clause_signals(clause: str, nuisance: bool) -> Iterable[str]:
    if _RESOLVED.search(clause):
        return
    past = _PAST.search(clause) is not None and _PRESENT.search(clause) is None
    for kind, pattern in _COMPILED.items():
        if past:
            continue
        resolved = _RESOLVED_KIND.get(kind)
        if resolved is not None and resolved.search(clause):
            continue
        for m in pattern.finditer(clause):
            if kind in _NEGATABLE and _NEG_BEFORE.search(
                clause[max(0, m.start() - 12) : m.start()]
            ):
                continue
            if kind == "fire" and nuisance:
                continue
            if kind == "water" and (_IRRIGATION.search(clause) or _GARBAGE.search(clause)):
                continue
            if kind == "threat" and _HABIT.search(clause) and not _PRESENT.search(clause):
                continue
            if kind == "outage" and (
                _PART_ONLY.search(clause)
                or (_PLANNED.search(clause) and not _PLANNED_OVERRIDE.search(clause))
            ):
                continue
            yield kind
            break


def urgent_signals(text: str) -> tuple[str, ...]:
    """Return the kinds of danger the message reports as happening now (sorted, unique)."""
    if not text or not text.strip():
        return ()
    norm = _CJK_LATIN.sub(" ", unicodedata.normalize("NFKC", text[:_MAX_TEXT]))
    nuisance = _SMOKE_NUISANCE.search(norm) is not None
    found: set[str] = set()
    for clause in split_clauses(norm):
        found.update(_clause_signals(clause, nuisance))
    return tuple(k for k in SIGNALS if k in found)


def rule_urgent(text: str) -> bool:
    """True when the lexicon finds danger happening now."""
    return bool(urgent_signals(text))
