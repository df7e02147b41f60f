"""The command line: arguments → :class:`Settings` → the library. The exit
codes are :mod:`bulkupdate.night.exitcode`'s: a run's comes back in its result, and
what fails before or around one (a usage error, a crash) is mapped here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from ..base import logs
from ..base.logs import mask_text
from ..base.words import plural
from ..capillary.outcomes import Outcome
from ..engine.crash import crash_note
from ..errors import BulkUpdateError, UsageError
from ..night.exitcode import EXIT_ABORTED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, RESUMABLE
from ..report import FORMATS
from ..settings import (
    FLAGS,
    STATE_FLAGS,
    declared,
    early,
    help_text,
    load_with_sources,
    unknown_environment,
)
from ..version import __version__

EPILOG = """exit status:
  0    every record ok or already (or only definite failures within --allow-failures)
  1    the run finished; some records are not ok (see the ledger)
  2    usage or configuration error, found before anything was sent
       (bad flag or setting, damaged input, run directory in use, no records)
  3    aborted by a fatal API condition (401/403, redirect, TLS ...); resumable
  130  interrupted by SIGINT/SIGTERM after draining in flight; resumable
  with --verify: uncertain records read back; matches count as ok, differs as
       retryable (docs/verify.md); a verify cut short exits 3/130: bulkupdate verify

environment:
  CAPILLARY_USERNAME, CAPILLARY_PASSWORD         Basic credentials (the till)
  CAPILLARY_CLIENT_KEY, CAPILLARY_CLIENT_SECRET  OAuth credentials (set one pair only)
  BULKUPDATE_<SETTING>   any setting, e.g. BULKUPDATE_RATE=100/min,
                         BULKUPDATE_BASE_URL, BULKUPDATE_LOG_FORMAT=json,
                         BULKUPDATE_ALLOW_FAILURES=0.5% (flags win, config file loses)
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY, SSL_CERT_FILE
"""


VERIFY_EPILOG = """exit status:
  0    every record read back matches what the input asked for
  1    some record differs, cannot be verified, or could not be read
  2    usage error;  3  aborted (401/403, redirect ...);  130  interrupted
  (3 and 130: run verify again, it continues where it stopped)
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (and the documented exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _tuning(p: argparse.ArgumentParser, *, resume: bool = False) -> None:
    """The flags of run and resume: one per setting declared a flag (settings.py),
    its help, choices and default said from the declaration."""
    p.add_argument("--config", type=Path, help="TOML settings file (see config/)")
    for name in FLAGS:
        _flag(p, name, resume=resume)


def _flag(p: argparse.ArgumentParser, name: str, *, resume: bool) -> None:
    rule = declared(name).rule
    # Values stay text here: the setting's rule parses and checks every source alike.
    options: dict[str, Any] = {"help": help_text(name, resume=resume).replace("%", "%%")}
    if rule.kind is bool:
        # --progress/--no-progress (None: decide by the terminal); --allow-empty.
        options.update(default=None, action=argparse.BooleanOptionalAction
                       if rule.optional else "store_true")
    elif rule.choices:
        options["choices"] = rule.choices
    if declared(name).metavar:
        options["metavar"] = declared(name).metavar
    p.add_argument("--" + name.replace("_", "-"), **options)


def state_flags(p: argparse.ArgumentParser) -> None:
    """The state store's flags (``--state``, ``--max-changes`` ...): one group, shared
    by every command that takes a store (run, link, plan, verify; delink too)."""
    group = p.add_argument_group("state store (send only what changed; docs/nightly.md)")
    for name in STATE_FLAGS:
        _flag(group, name, resume=False)  # type: ignore[arg-type]


def _ignore_flag(p: argparse.ArgumentParser) -> None:
    """--ignore-column and --encoding: how to read an input as it is (docs/input.md)."""
    p.add_argument("--ignore-column", action="append", default=[], metavar="NAME",
                   help="a CSV column of yours to leave unread (repeat for more); any "
                   "other unknown column is refused")
    p.add_argument("--encoding", metavar="NAME",
                   help="the input's encoding when it is not UTF-8, e.g. WINDOWS-1252 "
                   "(default: UTF-8; another is refused before anything is sent)")


def _verify_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verify", action="store_true",
                   help="when the night ends with uncertain records, read them back "
                   "(bulkupdate verify): matches counts as ok, differs as retryable "
                   "(docs/verify.md)")


def _delink_parser(sub: Any) -> None:
    delink = sub.add_parser(
        "delink", help="delink every customer of a JSONL/CSV file from the partner programs "
        "it names (docs/delink.md)", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Members who leave: one line = one item of deLinkCustomers (plus the "
        "optional ref). Only what the input names is delinked. Everything run has: the "
        "ledger, resume, report, the lock. Says how many customers and memberships it "
        "would delink before it sends.")
    delink.add_argument("input", help="JSONL (plain or .gz), CSV, or - for standard input")
    delink.add_argument("--run-dir", type=Path, help="run directory (default runs/<UTC>-<stem>)")
    delink.add_argument("--max-delinks", metavar="N|P%",
                        help="refuse (exit 2, nothing sent) an input that would delink more "
                        "than N program memberships (P%%: of those the state store holds "
                        "linked per program; with a state store 10%% unless given)")
    _tuning(delink)
    _ignore_flag(delink)
    state_flags(delink)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bulkupdate", description="Push partner-program tier updates to Capillary, "
        "with a per-customer ledger and crash-safe resume.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"bulkupdate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="send every record of a JSONL/CSV file", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("input", help="JSONL (plain or .gz), CSV, or - for standard input")
    run.add_argument("--run-dir", type=Path, help="run directory (default runs/<UTC>-<stem>)")
    _ignore_flag(run)
    _verify_flag(run)
    _tuning(run)
    state_flags(run)

    link = sub.add_parser(
        "link", help="link every customer of a JSONL/CSV file to its partner programs "
        "(the Link Customer API; docs/migrations.md)", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A migration's first run: one line = one item of linkCustomers (plus "
        "the optional ref). Everything run has: the ledger, resume, report, the lock.")
    link.add_argument("input", help="JSONL (plain or .gz), CSV, or - for standard input")
    link.add_argument("--run-dir", type=Path, help="run directory (default runs/<UTC>-<stem>)")
    _ignore_flag(link)
    _tuning(link)
    state_flags(link)

    _delink_parser(sub)

    resume = sub.add_parser(
        "resume", help="finish an interrupted or aborted run", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Finish a run: every setting defaults to the run's own (its "
        "manifest), so none is required; a flag given here overrides it. A finished run "
        "needs no credentials to say there is nothing to do.")
    resume.add_argument("run_dir", type=Path)
    _verify_flag(resume)
    _tuning(resume, resume=True)

    verify = sub.add_parser(
        "verify", help="read back a run's uncertain records: is each customer where the "
        "input wanted it? (docs/verify.md)", epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("run_dir", type=Path)
    verify.add_argument("--sample", type=int, default=0, metavar="N",
                        help="also read back N records chosen at random among the ok")
    verify.add_argument("--again", action="store_true",
                        help="start verify.jsonl anew instead of continuing it")
    _tuning(verify, resume=True)
    state_flags(verify)

    plan = sub.add_parser(
        "plan", help="what a run with a state store would send: new, changed, pending, "
        "expired, refresh, unchanged, absent (offline but for the store)",
        description="Reads the input and asks the store; sends nothing. Exit 0, or 2 when "
        "--max-changes/--max-missing would stop the run.")
    plan.add_argument("input", help="JSONL (plain or .gz), CSV, or - for standard input")
    kind = plan.add_mutually_exclusive_group()
    kind.add_argument("--link", action="store_true",
                      help="the input is link input (bulkupdate link), not updates")
    kind.add_argument("--delink", action="store_true",
                      help="the input is delink input (bulkupdate delink): says how many "
                      "customers and memberships it would delink, with or without a store")
    _tuning(plan)
    state_flags(plan)

    state = sub.add_parser(
        "state", help="what the state store holds; forget a customer, a program or keys "
        "confirmed before a date; seed it from finished runs (docs/state.md)")
    state.add_argument("action", nargs="?", choices=("show", "forget", "import", "copy"),
                       default="show")
    state.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR",
                       help="import: finished run directories whose ok results seed the store")
    state.add_argument("--customer", metavar="ID", help="forget: one person (5, id:5, "
                       "mobile:91..., email:..., externalId:...)")
    state.add_argument("--program", metavar="NAME", help="forget: every key of a program")
    state.add_argument("--before", metavar="DATE", help="forget: keys confirmed before DATE")
    state.add_argument("--json", action="store_true", help="show: as JSON")
    state.add_argument("--to", metavar="URL", help="copy: the empty store to copy everything "
                       "into (e.g. from SQLite to postgresql://...)")
    state.add_argument("--config", type=Path, help="TOML settings file (see config/)")
    _flag(state, "base_url", resume=False)
    for name in ("state", "state_scope"):
        _flag(state, name, resume=False)

    validate = sub.add_parser("validate", help="check an input offline (exit 0 clean, 1 not)")
    validate.add_argument("input")
    validate.add_argument("--quiet", action="store_true", help="only the counts")
    kind = validate.add_mutually_exclusive_group()
    kind.add_argument("--link", action="store_true",
                      help="the input is link input (bulkupdate link), not updates")
    kind.add_argument("--delink", action="store_true",
                      help="the input is delink input (bulkupdate delink), not updates")
    validate.add_argument("--rate", help="the rate to estimate the run's time at "
                                         "(default: BULKUPDATE_RATE, else 100/min)")
    validate.add_argument("--batch-size", help=help_text("batch_size"))
    _ignore_flag(validate)
    validate.add_argument("--allow-empty", action="store_true",
                          help="an input without records is fine (exit 0), as for run")

    report = sub.add_parser("report", help="what happened in a run")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument("--unlinked", action="store_true",
                        help="instead: the customers refused with 2004 (not linked), as link "
                             "input to complete with tier and expiry (docs/migrations.md)")

    simulate = sub.add_parser("simulate", help="serve a local stand-in for the API")
    from ..simulator import add_simulate_arguments

    add_simulate_arguments(simulate)

    demo = sub.add_parser("demo", help="sample data + simulator + run + report")
    demo.add_argument("--records", type=int, default=20_000)
    demo.add_argument("--dir", type=Path, default=Path("demo"))
    demo.add_argument("--rate", default="60/s")
    demo.add_argument("--concurrency", type=int, default=8)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "simulate":
        from ..simulator import simulate_main

        return simulate_main(argv[argv.index("simulate") + 1:])
    fmt = _stderr_format(args)
    try:
        return _dispatch(args)
    except BulkUpdateError as exc:
        _fail(str(exc), fmt, exc.exit_code)
        return exc.exit_code
    except (KeyboardInterrupt, asyncio.CancelledError):
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `bulkupdate report RUN | head`: the reader left; nothing went wrong here.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug, a full disk: one line, not a traceback
        return _unexpected(exc, fmt)


def _unexpected(exc: Exception, fmt: str = "text") -> int:
    note = crash_note(exc)
    if note is not None:   # during a run: the session was closed, and is resumable
        _fail(note, fmt, EXIT_ABORTED)
        return EXIT_ABORTED
    if isinstance(exc, OSError):
        # A file or directory the user named: unreadable, no permission, disk full.
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}", fmt)
    else:
        _fail(f"internal error ({type(exc).__name__}: {mask_text(str(exc))[:200]}); "
              "nothing was sent", fmt)
    return EXIT_USAGE


def _fail(message: str, fmt: str = "text", exit_code: int = EXIT_USAGE) -> None:
    """One line on stderr; with a json stderr, a ``run.error`` event."""
    message = " ".join(message.split())
    if fmt == "json":
        logs.stderr_event("json", "error", "run.error", message=message, exit_code=exit_code)
    else:
        print(f"bulkupdate: {message}", file=sys.stderr)


def _stderr_format(args: argparse.Namespace) -> str:
    """How run and resume write to stderr: json off a terminal, as a collector wants."""
    if args.command not in ("run", "link", "delink", "resume", "verify"):
        return "text"
    chosen = early("log_format", args.log_format, os.environ)
    if chosen in ("text", "json"):
        return str(chosen)
    return "text" if sys.stderr.isatty() else "json"


def _settings(args: argparse.Namespace, base: dict[str, Any] | None = None) -> Any:
    return _load(args, base)[0]


def _load(args: argparse.Namespace, base: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """The settings, and where each came from."""
    for name, near in unknown_environment(os.environ):
        logs.stderr_event(_stderr_format(args), "warning", "settings.unknown_variable",
                          variable=name, hint=f"did you mean {near}?" if near else
                          "no setting has that name; see bulkupdate --help")
    flags = {name: getattr(args, name, None) for name in (*FLAGS, *STATE_FLAGS)}
    return load_with_sources(flags, config_path=args.config, env=os.environ, base=base)


def _owner(args: argparse.Namespace, settings: Any) -> dict[str, str]:
    """stderr for this run: with a bar, warnings and errors; without one, what a
    collector wants — every event at --log-level, the heartbeat among them."""
    show = sys.stderr.isatty() if settings.progress is None else settings.progress
    return {"echo_level": "warning" if show else settings.log_level,
            "fmt": settings.log_format or _stderr_format(args)}


def _report(args: argparse.Namespace) -> int:
    if args.unlinked:
        from ..report.unlinked import write_unlinked

        count = write_unlinked(args.run_dir, sys.stdout)
        print(f"{plural(count, 'customer')} refused with 2004 (not linked)", file=sys.stderr)
        return 0
    from ..report import write_report

    write_report(args.run_dir, args.format, sys.stdout)
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    from ..night.runner import aresume
    from .process import run_as_owner

    if args.command in ("run", "link", "delink"):
        settings, sources = _load(args)
        # With a store, the plan says what the night will take.
        records = None if settings.state else _say_estimate(args, settings, sources)
        start = _starter(args, sources)
        on_plan = _plan_printer(_stderr_format(args))
        result, checked = run_as_owner(lambda control: _then_verify(
            start(args.input, settings, run_dir=args.run_dir, control=control,
                  records=records, on_plan=on_plan,
                  ignore_columns=tuple(args.ignore_column), encoding=args.encoding),
            args, settings, control), **_owner(args, settings))
        _say(result, _stderr_format(args))
        return _night_code(result, checked, settings)
    if args.command == "resume":
        from ..rundir.readback import load

        manifest, _ = load(args.run_dir)
        settings = _settings(args, base=manifest.get("settings"))
        result, checked = run_as_owner(lambda control: _then_verify(
            aresume(args.run_dir, settings, control=control), args, settings, control),
            **_owner(args, settings))
        _say(result, _stderr_format(args))
        return _night_code(result, checked, settings)
    if args.command == "verify":
        return _verify(args)
    if args.command == "state":
        from .state import state_command

        return state_command(args.action, _settings(args), customer=args.customer,
                             program=args.program, before=args.before,
                             run_dirs=args.run_dirs, to=args.to, as_json=args.json)
    if args.command == "plan":
        from .plan import plan_command, plan_delinks

        if args.delink and args.config is None and early("state", args.state, os.environ) is None:
            return plan_delinks(args.input)   # no store: offline, no settings to ask for
        return plan_command(args.input, _settings(args),
                            api="link" if args.link else "delink" if args.delink else "update")
    if args.command == "validate":
        return _validate(args.input, quiet=args.quiet, rate=args.rate,
                         batch_size=args.batch_size,
                         api="link" if args.link else "delink" if args.delink else "update",
                         allow_empty=args.allow_empty, ignore=tuple(args.ignore_column),
                         encoding=args.encoding)
    if args.command == "report":
        return _report(args)
    if args.command == "demo":
        from .demo import demo

        return demo(records=args.records, root=args.dir, rate=args.rate,
                    concurrency=args.concurrency)
    raise UsageError(f"unknown command {args.command}")  # pragma: no cover


def _starter(args: argparse.Namespace, sources: Any) -> Any:
    """The library's entry point for run, link or delink (with its guard and plan)."""
    from functools import partial

    from ..night.runner import adelink, alink, arun

    if args.command == "delink":
        def say(plan: Any) -> None:
            print(f"bulkupdate: {plan.sentence()}", file=sys.stderr)

        return partial(adelink, max_delinks=args.max_delinks, on_delinks=say,
                       # --batch-size (or its variable, or the config file) set the size: a delink
                       # keeps it even when the API answers fewer customers than sent.
                       batch_size_chosen="batch_size" in sources.origins)
    return alink if args.command == "link" else arun


async def _then_verify(night: Coroutine[Any, Any, Any], args: argparse.Namespace,
                       settings: Any, control: Any) -> tuple[Any, Any]:
    """The run (or resume), then, with ``--verify`` and when it finished with
    uncertain records, ``verify`` on its run directory: the run's lock is
    released when its session closes and verify takes it again (another
    process that took it in between makes verify refuse, never share it)."""
    result = await night
    if (not getattr(args, "verify", False) or result.exit_code in RESUMABLE or control.stopping
            or not result.summary.uncertain):
        return result, None
    from ..verify import averify

    _say_reads(result.summary.uncertain, 0, 0, settings, _stderr_format(args))
    return result, await averify(result.run_dir, settings, control=control)


def _night_code(result: Any, checked: Any, settings: Any) -> int:
    """The exit code of a run with ``--verify``: the verdicts count
    (:func:`bulkupdate.night.exitcode.with_verdicts`); a verify cut short says so."""
    if checked is None:
        return int(result.exit_code)
    from ..verify.files import night_exit_code

    _say_verified(checked)
    if checked.exit_code in RESUMABLE:
        return int(checked.exit_code)
    return night_exit_code(result.run_dir, result.summary.to_dict(), settings.allow_failures)


def _say_verified(summary: Any) -> None:
    counts = ", ".join(f"{n} {verdict}" for verdict, n in summary.counts.items())
    print(f"{summary.run_dir}: verified {sum(summary.counts.values())}/{summary.records} "
          f"records: {counts}; {summary.reapply} in reapply.jsonl (exit {summary.exit_code})")
    if getattr(summary, "drift", 0):
        print(f"{summary.run_dir}: {summary.drift} customers the state store called unchanged "
              "hold something else (drift): forgotten in the store, the next night sends them")
    if summary.exit_code in RESUMABLE:
        from ..report.commands import command

        if summary.reason:   # as a run says why it stopped
            print(f"stopped: {summary.reason}", file=sys.stderr)
        print(f"continue with: {command('verify', summary.run_dir)}", file=sys.stderr)


def _verify(args: argparse.Namespace) -> int:
    from ..rundir.readback import load
    from ..verify import averify
    from .process import run_as_owner

    if args.sample < 0:
        raise UsageError("--sample N: a number of records, 0 or more")
    manifest, night = load(args.run_dir)
    settings = _settings(args, base=manifest.get("settings"))
    if night:
        # With a store, --sample N also reads N of the records the store called unchanged.
        _say_reads(night.get("uncertain") or 0, night["outcomes"].get("ok", 0), args.sample,
                   settings, _stderr_format(args),
                   unchanged=night["outcomes"].get("unchanged", 0) if settings.state else 0)
    summary = run_as_owner(lambda control: averify(
        args.run_dir, settings, sample=args.sample, again=args.again, control=control),
        **_owner(args, settings))
    _say_verified(summary)
    return int(summary.exit_code)


def _say_reads(uncertain: int, ok: int, sample: int, settings: Any, fmt: str, *,
               unchanged: int = 0) -> None:
    """verify's estimate, before it reads: a long verify is no surprise (a json
    stderr stays all JSON: ``verify.estimate``)."""
    from ..planning.estimate import verify_reads, verify_sentence

    reads = verify_reads(uncertain, ok, sample, unchanged)
    if fmt == "json":
        logs.stderr_event("json", "info", "verify.estimate", reads=reads,
                          rate=str(settings.rate), estimate=verify_sentence(reads, settings.rate))
        return
    print(f"bulkupdate: {verify_sentence(reads, settings.rate)}", file=sys.stderr)


def _say(result: Any, fmt: str = "text") -> None:
    s = result.summary
    o = s["outcomes"]
    if result.nothing_to_do:
        print(f"{result.run_dir}: nothing to do: all {s['input_records']} records already "
              f"have a result (exit {result.exit_code})")
        return
    counts = ", ".join(f"{o.get(name, 0)} {name}" for name in Outcome
                       if name != Outcome.UNCHANGED or o.get(name))   # only with --state
    print(f"{result.run_dir}: {s['results']}/{s['input_records']} records reported: "
          f"{counts} (exit {result.exit_code})")
    from ..report.commands import command

    hint = command("resume", result.run_dir)
    if fmt == "json":
        if result.exit_code in RESUMABLE:
            logs.stderr_event("json", "warning", "run.resumable", reason=result.reason,
                              exit_code=result.exit_code, hint=hint)
        return
    if result.abort is not None:
        print(f"stopped: {result.abort}", file=sys.stderr)
    if result.exit_code in RESUMABLE:
        print(f"resume with: {hint}", file=sys.stderr)


def _plan_printer(fmt: str) -> Any:
    """A run's first lines with a state store: its plan, on stderr (a ``run.plan``
    event off a terminal)."""
    def show(lines: list[str]) -> None:
        if fmt == "json":
            logs.stderr_event("json", "info", "run.plan", plan="\n".join(lines))
        else:
            for line in lines:
                print(f"bulkupdate: {line}", file=sys.stderr)
    return show


def _say_estimate(args: argparse.Namespace, settings: Any, sources: Any) -> int | None:
    """What the input will take at the rate in force, before anything is sent; the
    records counted (None when not), so that the run does not count them again."""
    from ..planning.estimate import sentence
    from ..source.lines import count_records

    stdin = args.input == "-"
    unknown = "standard input" if stdin else "a CSV or gzip input"
    try:
        records = None if stdin else count_records(Path(args.input))
    except (OSError, BulkUpdateError):
        return None   # the run says what is wrong with it
    text = sentence(records, settings.rate, settings.batch_size, sources.said("rate"), unknown)
    if _stderr_format(args) == "text":   # off a terminal, run.started carries it
        print(f"bulkupdate: {text}", file=sys.stderr)
    return records


def _validate(input_arg: str, *, quiet: bool, rate: str | None = None,
              batch_size: str | None = None, api: str = "update",
              allow_empty: bool = False, ignore: tuple[str, ...] = (),
              encoding: str | None = None) -> int:
    from ..planning.estimate import sentence
    from ..settings import default_of, merge
    from ..source.lines import is_csv, iter_lines, json_array
    from ..source.sniff import sniff_input
    from ..source.validate import Invalid, validator
    from .validating import Findings

    # The run's rules for the two settings the estimate needs, and nothing else:
    # validate is offline, it needs no base URL nor credentials.
    given, sources = merge({"rate": rate, "batch_size": batch_size}, config_path=None,
                           env=os.environ, names=("rate", "batch_size"))
    at = given.get("rate", default_of("rate"))
    size = given.get("batch_size", default_of("batch_size"))

    # A pipe works: reading never seeks (only a run saves standard input first).
    path = Path("/dev/stdin") if input_arg == "-" else Path(input_arg)
    if encoding:
        return _validate_decoded(path, input_arg, encoding, quiet=quiet, rate=rate,
                                 batch_size=batch_size, api=api, allow_empty=allow_empty,
                                 ignore=ignore)
    if input_arg != "-":
        sniff_input(path, input_arg, api)    # another command's input, not UTF-8: as run
    now = datetime.now(UTC)
    records = bad = 0
    validate_line = validator(api)
    findings = Findings(quiet=quiet)
    for line, raw in iter_lines(path, api=api, ignore=ignore):
        if not records and raw.lstrip()[:1] == b"[" and not is_csv(path):
            raise json_array(input_arg)
        records += 1
        item = validate_line(line, raw, now)
        bad += isinstance(item, Invalid)
        findings.add(item, sys.stdout)
    findings.write(sys.stdout, sys.stderr)
    if not records and not allow_empty:
        raise UsageError(f"no records in {input_arg} (--allow-empty if that is normal)")
    print(f"{plural(records, 'record', grouped=False)}, {records - bad} valid, {bad} invalid",
          file=sys.stderr)
    print(sentence(records - bad, at, size, sources.said("rate")), file=sys.stderr)
    return 1 if bad else 0


def _validate_decoded(path: Path, input_arg: str, encoding: str, **how: Any) -> int:
    """validate --encoding: the UTF-8 copy a run would read, checked as a run would."""
    import tempfile

    from ..source.prepare import check_encoding, transcode

    check_encoding(encoding)
    with tempfile.TemporaryDirectory(prefix="bulkupdate-validate-") as tmp:
        copy = transcode(path, Path(tmp) / f"input-utf8{''.join(path.suffixes[:1]) or ''}",
                         encoding)
        return _validate(str(copy), **how)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
