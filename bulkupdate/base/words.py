"""Counts in sentences a person reads: "1 customer", "2 customers"."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None, *, grouped: bool = True) -> str:
    """``count`` and ``word``, in the plural (``words``, else ``word`` + s) unless 1;
    ``grouped``: thousands separated (``30,000``), as people read them."""
    number = f"{count:,}" if grouped else str(count)
    return f"{number} {word if count == 1 else (words or word + 's')}"
