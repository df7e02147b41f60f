"""``bulkupdate report``: what happened, from the run directory alone.

* :mod:`.table` — the table, JSON and CSV formats, and the dispatch between formats;
* :mod:`.html` — the night on one self-contained page;
* :mod:`.svg` — the page's small inline charts.
"""
