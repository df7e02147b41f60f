"""The wrong file, refused before the first request: a few lines from the top of
the input say whether it is another command's input (link items given to ``run``)
or not UTF-8 at all (a spreadsheet saved as Windows-1252). Either would otherwise
start a night that ends with every record ``invalid`` — the same exit as a night
with a few planted mistakes, and nothing on screen to tell the two apart.

The encoding is judged on the first ``SAMPLE`` lines (:func:`foreign`). A CSV is
a spreadsheet's export, re-encoded whole: one line there that is not UTF-8 but
reads as Windows-1252 text (accented letters inside words, typographic quotes),
with no line that is UTF-8 beyond ASCII, means the file is in another encoding. A
JSONL file (rarely re-encoded) is refused by the same rule only when more than
``JSONL_SHARE`` of its lines are not UTF-8. One stray byte among millions of lines
stays one ``invalid`` line, as before — and so do bytes that are no text in any
encoding (hostile lines), and one in a file that is UTF-8 elsewhere.
"""

from __future__ import annotations

import itertools
import zlib
from pathlib import Path

import orjson

from ..base.endpoint import ENDPOINTS
from ..base.words import plural
from ..errors import UsageError
from .files import BOM, Unreadable, bounded_lines, is_csv, open_input
from .validate import likely_encoding

SAMPLE = 1000            # lines judged for the encoding
KIND_SAMPLE = 20         # records judged for their kind: all must be another command's
JSONL_SHARE = 0.1        # more than this share of a JSONL sample not UTF-8: refused


def command_of(api: str) -> str:
    """The command that sends items of ``api``: ``run`` for updates, else its name."""
    return "run" if api == "update" else api


def other_command(records: list[object], api: str) -> str | None:
    """The command whose items ``records`` all are, when that is not ``api``'s:
    each a JSON object holding another endpoint's programs key and not this one's.
    Pure; None when any record could be this command's (or is not JSON at all)."""
    own = ENDPOINTS[api].programs_key if api in ENDPOINTS else None
    found: set[str] = set()
    for record in records:
        if not isinstance(record, dict) or own is None or own in record:
            return None
        names = {name for name, e in ENDPOINTS.items()
                 if name != api and e.programs_key in record}
        if len(names) != 1:
            return None
        found |= names
    return command_of(found.pop()) if len(found) == 1 else None


def foreign(lines: list[bytes], csv: bool) -> list[bytes]:
    """The lines that show ``lines`` (a file's first) are not UTF-8 at all, or []."""
    bad = not_utf8(lines)
    utf8_beyond_ascii = any(not raw.isascii() for raw in lines if raw not in bad)
    if not bad or utf8_beyond_ascii or not all(map(reads_as_text, bad)):
        return []   # UTF-8 with stray bytes (or hostile lines): each one invalid line
    return bad if csv or len(bad) > JSONL_SHARE * len(lines) else []


def reads_as_text(raw: bytes) -> bool:
    """Whether the bytes beyond ASCII of ``raw`` read as Windows-1252 text: each a
    typographic sign (0x80-0x9F: quotes, dashes, the euro) or a letter beside a
    letter (``Caf\xe9``). A stray ``\xff`` between ``_`` and ``1`` does not."""
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        return False
    for i, char in enumerate(text):
        if char.isascii() or 0x80 <= raw[i] <= 0x9F:
            continue
        beside = text[max(0, i - 1):i] + text[i + 1:i + 2]
        if not (char.isalpha() and any(c.isalpha() for c in beside)):
            return False
    return True


def not_utf8(lines: list[bytes]) -> list[bytes]:
    """The lines of ``lines`` that are not UTF-8 (a NUL counts: UTF-16)."""
    bad = []
    for raw in lines:
        try:
            if b"\x00" in raw:
                raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL")
            raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(raw)
    return bad


def sniff_input(path: Path, name: str, api: str, *, encoding: str | None = None) -> None:
    """Refuse (exit 2) an input that is another command's or not UTF-8, naming
    what to do instead; ``name`` is the input as the user gave it. With
    ``encoding`` (``--encoding``) the user said what it is: not judged."""
    shown = "-" if name == "standard input" else name   # as a command takes it
    head = _head(path)
    bad = [] if encoding else foreign(head, is_csv(path))
    if bad:
        what = likely_encoding(b"".join(bad))
        codec = "UTF-16" if "UTF-16" in what else "WINDOWS-1252"
        raise UsageError(
            f"{name}: {len(bad)} of its first {len(head)} lines are not UTF-8 (the file looks "
            f"like {what}); nothing was sent. Read it as it is with --encoding {codec}, or "
            "save it as UTF-8 (Excel: Save As > \"CSV UTF-8\"), or convert it: "
            f"iconv -f {codec} -t UTF-8 "
            f"{shown} > utf8-{Path(name).name if shown != '-' else 'input'}")
    if is_csv(path):
        return    # its header says its kind (source.csvfile)
    records = []
    for raw in itertools.islice((r for r in head if r.strip()), KIND_SAMPLE):
        try:
            records.append(orjson.loads(raw))
        except orjson.JSONDecodeError:
            return
    other = other_command(records, api)
    if other is not None and records:
        raise UsageError(
            f"{name}: {'its first record is' if len(records) == 1 else 'its first '}"
            f"{'' if len(records) == 1 else plural(len(records), 'record') + ' are'} input "
            f"for `bulkupdate {other}`, "
            f"not `bulkupdate {command_of(api)}`: did you mean `bulkupdate {other} {shown}`? "
            "Nothing was sent")


def _head(path: Path) -> list[bytes]:
    """The first ``SAMPLE`` physical lines, as stored (a ``.gz`` decompressed)."""
    out: list[bytes] = []
    with open_input(path) as fh:
        try:
            for number, line in enumerate(bounded_lines(fh), 1):
                if type(line) is Unreadable:
                    continue
                if number == 1:
                    line = line.removeprefix(BOM)
                out.append(line.rstrip(b"\r\n"))
                if number >= SAMPLE:
                    break
        except (OSError, EOFError, zlib.error):
            pass   # a damaged .gz: what was read is judged; the scan names the damage
    return out
