"""``bulkupdate validate``'s findings, in few lines however large the file: the
same message on 30,000 lines is one line with its count and its first lines, and
a customer named twice is a warning naming both lines.

Memory stays bounded: at most ``MAX_MESSAGES`` distinct messages are grouped
(later new ones are printed as they come), and repeats are looked for among the
first ``MAX_CUSTOMERS`` identity keys (a 64-bit hash and a line number each,
about 100 bytes); past that, ``validate`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from ..base.words import plural
from ..source.validate import Invalid, Record

MAX_MESSAGES = 10_000
FIRST_LINES = 3            # lines named for a grouped message
MAX_CUSTOMERS = 500_000    # identity keys remembered to find repeats
REPEATS_SHOWN = 10         # repeats named one by one; the rest counted


@dataclass
class Group:
    first: int
    lines: list[int]
    count: int = 1


@dataclass
class Findings:
    """What a pass over the input found; :meth:`add` per line, :meth:`write` at the end."""

    quiet: bool = False
    groups: dict[tuple[str, str], Group] = field(default_factory=dict)
    seen: dict[int, int] = field(default_factory=dict)    # hash(identity key) → first line
    repeats: list[tuple[int, int]] = field(default_factory=list)
    repeated: int = 0
    unchecked: int = 0      # records past MAX_CUSTOMERS, not looked at for repeats

    def add(self, item: Record | Invalid, out: TextIO) -> None:
        if isinstance(item, Invalid):
            self._invalid(item, out)
        else:
            self._customer(item)

    def _invalid(self, item: Invalid, out: TextIO) -> None:
        key = (item.field, item.error)
        group = self.groups.get(key)
        if group is not None:
            group.count += 1
            if len(group.lines) < FIRST_LINES:
                group.lines.append(item.line)
        elif len(self.groups) < MAX_MESSAGES:
            self.groups[key] = Group(item.line, [item.line])
        elif not self.quiet:
            out.write(item.describe() + "\n")    # past the bound: as it comes

    def _customer(self, record: Record) -> None:
        hashes = [hash(k) for k in record.keys]
        first = next((self.seen[h] for h in hashes if h in self.seen), None)
        if first is not None:
            self.repeated += 1
            if len(self.repeats) < REPEATS_SHOWN:
                self.repeats.append((first, record.line))
        if len(self.seen) + len(hashes) > MAX_CUSTOMERS:
            self.unchecked += first is None
            return
        for h in hashes:
            self.seen.setdefault(h, record.line)   # an identifier first named here

    def write(self, out: TextIO, err: TextIO) -> None:
        if not self.quiet:
            for (fld, error), group in self.groups.items():
                if group.count == 1:
                    out.write(f"line {group.first}: {fld}: {error}\n")
                    continue
                lines = ", ".join(str(n) for n in group.lines)
                out.write(f"line {group.first}: {fld}: {error} "
                          f"[{plural(group.count, 'line')} alike: {lines}"
                          f"{', …' if group.count > len(group.lines) else ''}]\n")
        for first, again in self.repeats:
            err.write(f"warning: line {again}: the same customer as line {first} "
                      "(both are sent, in input order)\n")
        if self.repeated > len(self.repeats):
            err.write(f"warning: {plural(self.repeated, 'record')} in all name a customer "
                      "named on an earlier line\n")
        if self.unchecked:
            err.write(f"note: {plural(self.unchecked, 'record')} past the first "
                      f"{MAX_CUSTOMERS:,} customers were not checked for repeats\n")
