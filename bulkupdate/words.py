"""Counts in sentences a person reads: "1 customer", "2 customers"."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None) -> str:
    """``count`` and ``word``, in the plural (``words``, else ``word`` + s) unless 1."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"
