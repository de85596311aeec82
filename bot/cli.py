"""The `guanjia` command (and `python -m bot`): run, set up and inspect Guanjia."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.config import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from bot.core.groupsend import TaskLine
    from bot.core.i18n import Catalogues
    from bot.core.notifier import DeliverySummary
    from bot.core.owners import EstateUnbound

log = logging.getLogger("guanjia")


class StepBar:
    """A progress bar of named steps on standard error (tqdm), shown only on a terminal: it
    appears at the first step, each step moves it on and names what is being done, and
    `close` fills it. Its label and step names are the `progress.*` texts of the catalogues."""

    def __init__(
        self,
        key: str,
        steps: Sequence[str],
        catalogues: Catalogues,
        lang: str,
        file: TextIO | None = None,
    ) -> None:
        self.key, self.steps = key, steps
        self.catalogues, self.lang = catalogues, lang
        self.file = file
        self._bar: Any = None

    def __call__(self, step: str) -> None:
        """Step `step` begins."""
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(
                total=len(self.steps),
                desc=self.catalogues.text(self.lang, self.key),
                file=self.file or sys.stderr,
                disable=None,  # off when the file is not a terminal
                bar_format="{desc}: {bar:20} {n_fmt}/{total_fmt}{postfix} [{elapsed}]",
            )
        else:
            self._bar.update(1)
        self._bar.set_postfix_str(self.catalogues.text(self.lang, f"{self.key}.{step}"))

    def close(self) -> None:
        """Fill the bar and end its line (nothing when no step began)."""
        if self._bar is not None:
            self._bar.update(self._bar.total - self._bar.n)
            self._bar.set_postfix_str("")
            self._bar.close()
            self._bar = None


def _with_store(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    """Run `work` with the store open, closing it whatever happens."""
    from models.store import close_store, open_store

    async def main() -> int:
        await open_store(settings.database_url)
        try:
            return await work()
        finally:
            await close_store()

    return asyncio.run(main())


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Run Guanjia until stopped."""
    from bot import app
    from bot.adapters.http import ServerStartError
    from bot.adapters.telegram import TelegramStartError

    try:
        asyncio.run(app.run(settings))
    except (ServerStartError, TelegramStartError) as exc:
        print(f"guanjia: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    """Apply the store's pending migrations."""
    from models.store import close_store, open_store, upgrade_schema

    async def main() -> int:
        await open_store(settings.database_url, upgrade=False)
        try:
            applied = await upgrade_schema()
        finally:
            await close_store()
        print(f"{applied} migration(s) applied; the store is up to date")
        return 0

    return asyncio.run(main())


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Load the demo estate."""
    from bot.core.clock import SystemClock
    from bot.core.demo import load_demo

    async def work() -> int:
        estate = await load_demo(SystemClock().now().astimezone(settings.tz).date())
        print(f"demo estate ready: {estate.code} {estate.name}")
        return 0

    return _with_store(settings, work)


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Import an estate from a workbook or a folder of CSV files."""
    from bot.core.estate_import import ImportFailed, import_estate, render_report
    from bot.core.estate_update import render_update, update_estate
    from bot.core.i18n import Catalogues

    if args.template is not None:
        from bot.core.estate_template import write_template

        write_template(Path(args.template), args.lang or "zh")
        print(f"wrote the estate workbook template to {args.template}")
        return 0
    if args.file is None or args.estate is None:
        print("guanjia import: give FILE and --estate CODE (or --template FILE)", file=sys.stderr)
        return 2

    catalogues = Catalogues(default=settings.default_language)
    lang = args.lang or settings.default_language

    if args.dry_run and not args.update:
        print("guanjia import: --dry-run goes with --update", file=sys.stderr)
        return 2

    async def work() -> int:
        try:
            if args.update:
                update = await update_estate(Path(args.file), args.estate, dry_run=args.dry_run)
                print(render_update(update, catalogues, lang))
                return 0
            report = await import_estate(Path(args.file), args.estate, args.name)
        except ImportFailed as failed:
            print(failed.render(catalogues, lang, args.file), file=sys.stderr)
            return 1
        print(render_report(report, catalogues, lang))
        return 0

    return _with_store(settings, work)


def cmd_estates(settings: Settings, args: argparse.Namespace) -> int:
    """List the estates in the store with what each holds."""
    from models import Bill, Estate, FaqEntry, Owner, Staff, Ticket, Unit

    async def work() -> int:
        estates = await Estate.all().order_by("id")
        if not estates:
            print("the store holds no estate; `guanjia demo` loads one")
        for estate in estates:
            counts = {
                "units": await Unit.filter(estate_id=estate.id).count(),
                "owners": await Owner.filter(estate_id=estate.id).count(),
                "staff": await Staff.filter(estate_id=estate.id).count(),
                "bills": await Bill.filter(unit__estate_id=estate.id).count(),
                "faq": await FaqEntry.filter(estate_id=estate.id).count(),
                "tickets": await Ticket.filter(estate_id=estate.id).count(),
            }
            print(
                f"{estate.code}\t{estate.name}\t" + " ".join(f"{k}={v}" for k, v in counts.items())
            )
        return 0

    return _with_store(settings, work)


def cmd_nlu_train(settings: Settings, args: argparse.Namespace) -> int:
    """Build the NLU model from the corpus (only when stale with --if-stale), with a progress
    bar on a terminal."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    from bot.core.i18n import Catalogues
    from bot.core.nlu.train import TRAIN_STAGES

    lang = settings.default_language
    bar = StepBar("progress.nlu", TRAIN_STAGES, Catalogues(default=lang), lang)
    # Log lines go above the bar, not through it.
    with logging_redirect_tqdm():
        return _nlu_train(settings, args, bar)


def _nlu_train(settings: Settings, args: argparse.Namespace, bar: StepBar) -> int:
    from bot.core.nlu import DEFAULT_CORPUS_DIR, NLU, train_model

    path = settings.nlu_model_file
    try:
        if args.if_stale:
            nlu = NLU.load(path, progress=bar)
            bar.close()  # before the line below
            print(f"NLU model ready at {path} ({nlu.fingerprint[:12]})")
            return 0
        report = train_model(DEFAULT_CORPUS_DIR, path, progress=bar)
    finally:
        bar.close()
    print(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    print(f"NLU model written to {path}")
    return 0


def understand_lines(lines: TextIO, out: TextIO, model_path: Path) -> int:
    """Write one JSON understanding per input line; returns how many lines were read."""
    from bot.core.nlu import NLU

    nlu = NLU.load(model_path)
    count = 0
    for line in lines:
        text = line.rstrip("\r\n")
        out.write(json.dumps(nlu.understand(text).to_json(), ensure_ascii=False) + "\n")
        count += 1
    out.flush()
    return count


def cmd_understand(settings: Settings, args: argparse.Namespace) -> int:
    """Read one message per line on standard input, write one JSON object per line."""
    understand_lines(sys.stdin, sys.stdout, settings.nlu_model_file)
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Print an estate's month report and write its chart (PNG) and workbook (XLSX)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.core.clock import SystemClock
    from bot.core.i18n import Catalogues
    from bot.core.reports import (
        BadMonth,
        month_report,
        month_started,
        parse_month,
        render_text,
        report_directory,
        write_report_files,
    )
    from models import Estate

    try:
        month = parse_month(args.month)
        at = datetime.fromisoformat(args.at) if args.at else None
    except (BadMonth, ValueError) as exc:
        print(f"guanjia report: {exc}", file=sys.stderr)
        return 2

    async def work() -> int:
        estate = await Estate.get_or_none(code=args.estate)
        if estate is None:
            print(
                f"guanjia report: no estate {args.estate!r}; `guanjia estates` lists them",
                file=sys.stderr,
            )
            return 1
        tz = ZoneInfo(estate.timezone)
        now = (at if at.tzinfo else at.replace(tzinfo=tz)) if at else SystemClock().now()
        if not month_started(month, tz, now):
            print(f"guanjia report: {month} has not begun in {estate.timezone}", file=sys.stderr)
            return 2
        catalogues = Catalogues(default=settings.default_language)
        lang = args.lang or settings.default_language
        bar = StepBar("progress.report", ("figures", "files"), catalogues, lang)
        try:
            bar("figures")
            report = await month_report(estate, month, now)
            default_out = report_directory(settings.data_dir / "reports", report)
            out = Path(args.out) if args.out else default_out
            bar("files")
            files = write_report_files(
                report,
                catalogues,
                lang,
                out,
                prepared_by=args.prepared_by,
                approved_by=args.approved_by,
            )
        finally:
            bar.close()
        print(render_text(report, catalogues, lang))
        print()
        print(f"chart: {files.chart}")
        print(f"workbook: {files.workbook}")
        return 0

    return _with_store(settings, work)


def cmd_chats_code(settings: Settings, args: argparse.Namespace) -> int:
    """Print a one-time code that registers a group as an estate's owner group or staff chat."""
    from bot.core.clock import SystemClock
    from bot.core.codes import issue_code
    from models import ChatKind, CodePurpose, Estate

    async def work() -> int:
        estate = await Estate.get_or_none(code=args.estate)
        if estate is None:
            print(
                f"guanjia chats code: no estate {args.estate!r}; `guanjia estates` lists them",
                file=sys.stderr,
            )
            return 1
        code = await issue_code(
            estate,
            CodePurpose.REGISTER_CHAT,
            created_by="cli",
            now=SystemClock().now(),
            chat_kind=ChatKind(args.kind),
        )
        expires = code.expires_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M %Z")
        print(code.code)
        print(
            f"Send `/register {code.code}` in the group to make it the {args.kind} chat of "
            f"{estate.code} ({estate.name}). It works once, until {expires}.",
            file=sys.stderr,
        )
        return 0

    return _with_store(settings, work)


def cmd_escalation(settings: Settings, args: argparse.Namespace) -> int:
    """Show an estate's escalation steps, or set them (`--steps 0,30,120`)."""
    from bot.core.desk import STAGES, parse_steps
    from models import Estate

    async def work() -> int:
        estate = await Estate.get_or_none(code=args.estate)
        if estate is None:
            print(f"guanjia escalation: no estate {args.estate!r}", file=sys.stderr)
            return 1
        if args.steps is not None:
            try:
                steps = parse_steps(args.steps)
            except ValueError as exc:
                print(f"guanjia escalation: {exc}; nothing changed", file=sys.stderr)
                return 1
            estate.escalation_steps = ",".join(str(m) for m in steps)
            await estate.save(update_fields=["escalation_steps"])
        steps = parse_steps(estate.escalation_steps)
        print(
            f"{estate.code}: escalation steps {estate.escalation_steps} (minutes after a breach)"
        )
        for level, minutes in enumerate(steps):
            print(f"  +{minutes} min: {STAGES[min(level, len(STAGES) - 1)]}")
        return 0

    return _with_store(settings, work)


def cmd_staff_code(settings: Settings, args: argparse.Namespace) -> int:
    """Print a one-time code that binds a staff member's chat account (sent in private)."""
    from bot.core.clock import SystemClock
    from bot.core.codes import issue_code
    from models import CodePurpose, Estate, Staff

    async def work() -> int:
        if args.estate:
            estates = await Estate.filter(code=args.estate)
        else:
            estates = await Estate.all().limit(2)
        if len(estates) != 1:
            why = f"no estate {args.estate!r}" if args.estate else "name the estate with --estate"
            print(f"guanjia staff code: {why}; `guanjia estates` lists them", file=sys.stderr)
            return 1
        estate = estates[0]
        staff = await Staff.get_or_none(estate_id=estate.id, name=args.name, active=True)
        if staff is None:
            print(
                f"guanjia staff code: {estate.code} has no active staff member {args.name!r}",
                file=sys.stderr,
            )
            return 1
        code = await issue_code(
            estate, CodePurpose.BIND_STAFF, created_by="cli", now=SystemClock().now(), staff=staff
        )
        expires = code.expires_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M %Z")
        print(code.code)
        print(
            f"{staff.name} sends `/bind {code.code}` to the bot in private to act as staff of "
            f"{estate.code} ({estate.name}). It works once, until {expires}.",
            file=sys.stderr,
        )
        return 0

    return _with_store(settings, work)


def cmd_notices_run(settings: Settings, args: argparse.Namespace) -> int:
    """Run a notice job now as if at `--at`: its notices are recorded, and the running Guanjia
    (which holds the channels) sends them within a minute."""
    from datetime import datetime

    from bot.core.channel import ChannelHub
    from bot.core.clock import FixedClock
    from bot.core.i18n import Catalogues
    from bot.core.notifier import Notifier
    from scheduler.jobs import NOTICE_JOBS

    try:
        at = datetime.fromisoformat(args.at)
    except ValueError:
        print(
            f"guanjia notices run: --at {args.at!r} is not an ISO date and time", file=sys.stderr
        )
        return 2
    at = at if at.tzinfo else at.replace(tzinfo=settings.tz)
    clock = FixedClock(at)

    async def work() -> int:
        services = argparse.Namespace(catalogues=Catalogues(default=settings.default_language))
        notifier = Notifier(hub=ChannelHub(), clock=clock, queue_only=True)
        queued = await NOTICE_JOBS[args.kind](at, services, notifier)
        print(
            f"{args.kind} as at {at.isoformat()}: {queued} new notice(s) queued; the running "
            "Guanjia sends them within a minute (`guanjia notices status` shows them)"
        )
        if args.kind in PRIVATE_OWNER_NOTICES:
            from bot.core.owners import unbound_owners

            for found in await unbound_owners():
                if found.owners:  # an estate with no owner yet has nobody to miss
                    print(format_unbound(found, services.catalogues, settings.default_language))
        return 0

    return _with_store(settings, work)


# The notice jobs that write to owners privately: an owner with no chat account bound misses them.
PRIVATE_OWNER_NOTICES = frozenset({"bills", "arrears", "warranty"})
# How many unbound owners `guanjia notices run` lists before "and N more".
UNBOUND_SHOWN = 10


def format_unbound(
    found: EstateUnbound, catalogues: Catalogues, lang: str, shown: int = UNBOUND_SHOWN
) -> str:
    """How many of an estate's owners have no chat account bound, the first `shown` of them
    (unit, name), how many more, and how to export them all."""
    estate = found.estate
    if not found.unbound:
        return catalogues.text(
            lang, "owners.unbound.none", estate=estate.name, owners=found.owners
        )
    separator = catalogues.text(lang, "owners.unbound.unit_sep")
    lines = [
        catalogues.text(
            lang,
            "owners.unbound.summary",
            estate=estate.name,
            owners=found.owners,
            count=len(found.unbound),
        )
    ]
    for owner in found.unbound[:shown]:
        units = separator.join(owner.units) or catalogues.text(lang, "owners.unbound.no_unit")
        lines.append(catalogues.text(lang, "owners.unbound.line", units=units, name=owner.name))
    if len(found.unbound) > shown:
        more = len(found.unbound) - shown
        lines.append(catalogues.text(lang, "owners.unbound.more", count=more))
    lines.append(catalogues.text(lang, "owners.unbound.hint", code=estate.code))
    return "\n".join(lines)


def cmd_owners_unbound(settings: Settings, args: argparse.Namespace) -> int:
    """List an estate's owners with no chat account bound, or export them (`--out FILE.xlsx`)."""
    from bot.core.i18n import Catalogues
    from bot.core.owners import unbound_owners, write_unbound_workbook

    catalogues = Catalogues(default=settings.default_language)
    lang = args.lang or settings.default_language

    async def work() -> int:
        found = await unbound_owners(args.estate)
        if not found:
            print(
                f"guanjia owners unbound: no estate {args.estate!r}; `guanjia estates` lists them",
                file=sys.stderr,
            )
            return 1
        (estate,) = found
        if args.out is None:
            print(format_unbound(estate, catalogues, lang, shown=len(estate.unbound)))
            return 0
        out = Path(args.out)
        write_unbound_workbook(estate, out, catalogues, lang)
        print(catalogues.text(lang, "owners.unbound.written", count=len(estate.unbound), path=out))
        return 0

    return _with_store(settings, work)


def cmd_notices_status(settings: Settings, args: argparse.Namespace) -> int:
    """Show the deliveries: by kind and status, then the failed ones with their reasons."""
    from bot.core import windows
    from bot.core.groupsend import task_lines
    from bot.core.notifier import delivery_summary

    async def work() -> int:
        summary = await delivery_summary(limit=args.limit)
        tasks = await task_lines(limit=args.limit)
        held = await windows.held_by_kind()
        if not summary.counts and not tasks and not held:
            print("no notice has been recorded yet")
            return 0
        if summary.counts:
            _print_deliveries(summary)
        if tasks:
            print(("\n" if summary.counts else "") + format_group_sends(tasks, settings))
        if held:
            # Counted as sent above: the platform's reply window had run out, so the message
            # waits for its person to write again (微信客服's 48 hours / 5 messages).
            print("\nkept until the person writes again (their reply window had run out):")
            for (platform, kind), count in sorted(held.items()):
                print(f"  {platform.value}\t{kind}\t{count}")
        return 0

    return _with_store(settings, work)


def _print_deliveries(summary: DeliverySummary) -> None:
    """The deliveries by kind and status, then the failed and unknown ones."""
    statuses = ("sent", "pending", "sending", "failed", "unknown")
    print("kind\t" + "\t".join(statuses))
    for kind in sorted({kind for kind, _ in summary.counts}):
        row = [str(summary.counts.get((kind, status), 0)) for status in statuses]
        print(f"{kind}\t" + "\t".join(row))
    print(f"answer lost at least once (may have been delivered twice): {summary.answer_lost}")
    for title, rows in (("failed", summary.failed), ("unknown", summary.unknown)):
        if rows:
            print(f"\n{title} (latest {len(rows)}):")
        for row in rows:
            print(f"  {row.dedup_key}  attempts={row.attempts}  {row.last_error}")


def format_group_sends(lines: Sequence[TaskLine], settings: Settings) -> str:
    """The WeCom 客户群群发 tasks as `guanjia notices status` shows them: each task's state
    (confirmed or not, reminded), then each of its groups' status."""
    out = [f"WeCom customer-group tasks (客户群群发), latest {len(lines)}:"]
    for line in lines:
        task = line.task
        created = task.created_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        when = ""
        if task.confirmed_at is not None:
            when = " at " + task.confirmed_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        out.append(
            f"  {task.dedup_key}  sender={task.sender}  msgid={task.msgid}  created {created}"
            f"  {line.state}{when}"
        )
        if task.last_error:
            out.append(f"    last error: {task.last_error}")
        for chat_id, name, status in line.groups:
            out.append(f"    {name or chat_id} ({chat_id}): {status}")
    return "\n".join(out)


def cmd_wecom_groups(settings: Settings, args: argparse.Namespace) -> int:
    """List the corp's WeCom customer groups (客户群) with their owners and estates, and register
    the ones named by `--register` (id or exact name) as owner groups of `--estate`."""
    from bot.adapters.wecom import build_group_send_api
    from bot.core import groupsend
    from bot.core.channel import SendError
    from bot.core.clock import SystemClock

    if not settings.wecom_enabled:
        print("guanjia wecom groups: set WECOM_CORP_ID and the app's settings", file=sys.stderr)
        return 2

    async def work() -> int:
        api = build_group_send_api(
            settings.wecom_corp_id,
            settings.wecom_contact_secret or settings.wecom_secret,
            settings.wecom_api_base_url,
            SystemClock(),
        )
        try:
            groups = await api.list_groups()
        except SendError as error:
            print(f"guanjia wecom groups: WeCom refused: {error}", file=sys.stderr)
            return 1
        known = await groupsend.registered_groups()
        wanted = set(args.register or [])
        matched = [g for g in groups if g.chat_id in wanted or (g.name and g.name in wanted)]
        unmatched = wanted - {g.chat_id for g in matched} - {g.name for g in matched}
        if unmatched:
            print(
                "guanjia wecom groups: not customer groups of the corp: "
                + ", ".join(sorted(unmatched)),
                file=sys.stderr,
            )
            return 1
        now = SystemClock().now()
        failed = 0
        for group in matched:
            try:
                _, created = await groupsend.register_group(args.estate, group, now)
            except groupsend.GroupRefused as refused:
                print(f"not registered: {group.name or group.chat_id}: {refused}", file=sys.stderr)
                failed += 1
                continue
            print(("registered" if created else "already registered") + f": {group.chat_id}")
        for group in groups:
            if group.chat_id in known and group.chat_id not in {g.chat_id for g in matched}:
                if await groupsend.update_owner(group.chat_id, group.owner):
                    print(f"owner of {group.chat_id} is now {group.owner}")
        known = await groupsend.registered_groups()
        print("chat_id\tname\towner\testate")
        for group in groups:
            estate = known.get(group.chat_id, ("-", ""))[0]
            print(f"{group.chat_id}\t{group.name}\t{group.owner}\t{estate}")
        return 1 if failed else 0

    return _with_store(settings, work)


def cmd_wecom_kf_link(settings: Settings, args: argparse.Namespace) -> int:
    """Print an estate's 微信客服 contact link and save its QR code as a PNG."""
    from bot.adapters.wecom_kf import KfConfig, LinkError, contact_link, save_qr

    if not settings.wecom_kf_enabled:
        print(
            "guanjia wecom kf-link: 微信客服 is not configured (WECOM_KF_SECRET …; see README)",
            file=sys.stderr,
        )
        return 1
    try:
        url = contact_link(KfConfig.from_settings(settings), args.estate)
    except LinkError as exc:
        print(f"guanjia wecom kf-link: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path("data") / "wecom_kf" / f"{args.estate}-kf.png"
    save_qr(url, out)
    print(url)
    print(
        f"QR code saved to {out}: pin it (or the link) in {args.estate}'s owner group; owners who "
        "open it chat with Guanjia on WeChat and are known to be of this estate.",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="guanjia", description="Guanjia (管家): the chat-bot front desk of an estate."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run Guanjia until Ctrl-C").set_defaults(func=cmd_run)

    db = sub.add_parser("db", help="the store's schema").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(func=cmd_db_upgrade)

    sub.add_parser("demo", help="load the demo estate").set_defaults(func=cmd_demo)

    imp = sub.add_parser("import", help="import an estate from .xlsx or a folder of .csv")
    imp.add_argument("file", nargs="?", help="an .xlsx workbook or a folder of .csv files")
    imp.add_argument("--estate", help="the estate's code (created if missing)")
    imp.add_argument("--name", default=None, help="the estate's name, when it is created")
    imp.add_argument(
        "--template",
        metavar="FILE",
        help="write an empty workbook with every sheet, its headers and example rows, and stop",
    )
    imp.add_argument(
        "--update",
        action="store_true",
        help="merge into the existing estate: phones, new and departed owners, a month's bills",
    )
    imp.add_argument(
        "--dry-run",
        action="store_true",
        help="with --update: print what would change and write nothing",
    )
    imp.add_argument(
        "--lang",
        choices=("zh", "en"),
        default=None,
        help="the language of the template and of the messages (the settings' language)",
    )
    imp.set_defaults(func=cmd_import)

    sub.add_parser("estates", help="list the estates in the store").set_defaults(func=cmd_estates)

    esc = sub.add_parser("escalation", help="an estate's escalation steps: show or set them")
    esc.add_argument("--estate", required=True, help="the estate's code")
    esc.add_argument("--steps", help="minutes after a breach, e.g. 0,30,120")
    esc.set_defaults(func=cmd_escalation)

    nlu = sub.add_parser("nlu", help="the NLU model").add_subparsers(dest="nlu", required=True)
    train = nlu.add_parser("train", help="build the NLU model from the corpus")
    train.add_argument("--if-stale", action="store_true", help="only if missing or stale")
    train.set_defaults(func=cmd_nlu_train)

    sub.add_parser(
        "understand", help="classify messages from standard input, one per line, as JSON lines"
    ).set_defaults(func=cmd_understand)

    rep = sub.add_parser("report", help="an estate's month report: text, chart and workbook")
    rep.add_argument("--estate", required=True, help="the estate's code")
    rep.add_argument("--month", required=True, help="the month, YYYY-MM")
    rep.add_argument("--out", default=None, help="folder for the files (data/reports/CODE/MONTH)")
    rep.add_argument("--lang", choices=("zh", "en"), default=None, help="the report's language")
    rep.add_argument("--at", default=None, help="count as of this ISO time (default: now)")
    rep.add_argument(
        "--prepared-by", default="", help="the name in the workbook's 编制 (prepared by) cell"
    )
    rep.add_argument(
        "--approved-by",
        default="",
        help="the name in its 审核 (approved by) cell; blank to sign",
    )
    rep.set_defaults(func=cmd_report)

    chats = sub.add_parser("chats", help="the group chats Guanjia serves")
    chats_sub = chats.add_subparsers(dest="chats", required=True)
    chat_code = chats_sub.add_parser(
        "code", help="print a code that registers a group (/register)"
    )
    chat_code.add_argument("--estate", required=True, help="the estate's code")
    chat_code.add_argument(
        "--kind", required=True, choices=("owners", "staff"), help="owner group or staff chat"
    )
    chat_code.set_defaults(func=cmd_chats_code)

    staff = sub.add_parser("staff", help="the staff desk's accounts")
    staff_sub = staff.add_subparsers(dest="staff", required=True)
    staff_code = staff_sub.add_parser("code", help="print a code that binds a staff account")
    staff_code.add_argument("name", help="the staff member's name, as on the staff list")
    staff_code.add_argument("--estate", default=None, help="the estate's code (if several)")
    staff_code.set_defaults(func=cmd_staff_code)

    notices = sub.add_parser("notices", help="scheduled notices: run a job, see deliveries")
    notices_sub = notices.add_subparsers(dest="notices", required=True)
    notices_run = notices_sub.add_parser("run", help="run a notice job now as if at --at")
    notices_run.add_argument(
        "kind",
        choices=(
            "bills",
            "arrears",
            "greetings",
            "warranty",
            "announcements",
            "ratings",
            "appointments",
        ),
    )
    notices_run.add_argument(
        "--at", required=True, help="ISO date and time, e.g. 2026-12-01T09:00 (in TIMEZONE)"
    )
    notices_run.set_defaults(func=cmd_notices_run)
    notices_status = notices_sub.add_parser("status", help="sent, pending, failed, unknown")
    notices_status.add_argument("--limit", type=int, default=20, help="failed rows to list")
    notices_status.set_defaults(func=cmd_notices_status)
    owners = sub.add_parser("owners", help="an estate's owners")
    owners_sub = owners.add_subparsers(dest="owners", required=True)
    unbound = owners_sub.add_parser(
        "unbound", help="the owners with no chat account bound (they get no private notice)"
    )
    unbound.add_argument("--estate", required=True, help="the estate's code")
    unbound.add_argument("--out", default=None, help="write them to this .xlsx (else print them)")
    unbound.add_argument(
        "--lang", choices=("zh", "en"), default=None, help="the language (DEFAULT_LANGUAGE)"
    )
    unbound.set_defaults(func=cmd_owners_unbound)
    wecom = sub.add_parser(
        "wecom", help="WeCom: customer groups (客户群) for 客户群群发, and 微信客服 contact links"
    )
    wecom_sub = wecom.add_subparsers(dest="wecom", required=True)
    wecom_groups = wecom_sub.add_parser(
        "groups", help="list the corp's customer groups; register some to an estate"
    )
    wecom_groups.add_argument("--estate", required=True, help="the estate's code")
    wecom_groups.add_argument(
        "--register",
        nargs="+",
        metavar="GROUP",
        help="register these groups (chat id or exact name) as the estate's owner groups",
    )
    wecom_groups.set_defaults(func=cmd_wecom_groups)
    kf_link = wecom_sub.add_parser(
        "kf-link", help="print an estate's 微信客服 link and save it as a QR code PNG"
    )
    kf_link.add_argument("--estate", required=True, help="the estate's code")
    kf_link.add_argument("--out", default=None, help="the PNG's path (data/wecom_kf/CODE-kf.png)")
    kf_link.set_defaults(func=cmd_wecom_kf_link)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `guanjia` and `python -m bot`."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"guanjia: {exc}", file=sys.stderr)
        return 2
    from bot.app import configure_logging
    from models.store import StoreUnavailable

    configure_logging(settings)
    try:
        return int(args.func(settings, args))
    except StoreUnavailable as exc:
        # A store that cannot be reached or opened is a setting to fix, not a bug: one line.
        print(f"guanjia: {exc} (DATABASE_URL)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
