"""The plan of a night with a state store (``--state``): what will be sent and
what is unchanged, decided once per line before anything is sent (:mod:`.scan`),
counted and guarded (:mod:`.tally`), and left in the run directory for the send
pass and any resume (:mod:`.files`). Said before any night too: how long it
will take (:mod:`.estimate`) and what a delink night would do (:mod:`.delinks`)."""

from .files import PlanReader
from .scan import intents, plan_pass
from .tally import Tally, describe, refusal

__all__ = ["PlanReader", "Tally", "describe", "intents", "plan_pass", "refusal"]
