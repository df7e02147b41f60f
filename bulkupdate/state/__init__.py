"""The state store (``--state URL``): what each customer's programs were last
confirmed to be, so a nightly full file sends only what changed (docs/state.md).

Modules, in the order a night uses them: :mod:`.url` (where the store is),
:mod:`.store` (open, lease, run registry), :mod:`.intent` (what a record asks),
:mod:`.lookup` and :mod:`.skip` (the decision; :mod:`.refresh` spreads the
re-sends), :mod:`.marks` (pending before sending), :mod:`.replay` and
:mod:`.confirm` (results.jsonl confirms), :mod:`.admin` (absent keys, verify,
forget, summary), :mod:`.seed` (``state import``), :mod:`.command` (the
``bulkupdate state`` subcommand's work)."""

from __future__ import annotations

from .admin import StoredKey
from .errors import StateError
from .intent import Intent, intents_of, keys_of
from .skip import Decision
from .store import Store, open_store

__all__ = ["Decision", "Intent", "StateError", "Store", "StoredKey", "intents_of", "keys_of",
           "open_store"]
