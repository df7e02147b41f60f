"""What runs: records in, requests out, answers applied — under the contract's limits.

* :mod:`.pipeline` — owns the tasks: the reader, the dispatcher, one task per request;
  :meth:`~.pipeline.Pipeline.snapshot` is what watchers read;
* :mod:`.reader` — input lines → validated records, admitted while there is room;
* :mod:`.scheduler` — per-customer order and batches (pure);
* :mod:`.decide` — an answer and its records → decisions (finish, retry, split, bisect,
  abort; pure); :mod:`.handle` applies them; :mod:`.flow` — the run's shared state;
* :mod:`.throttle` — ``--rate`` as a smooth cap, and the server's limit learned from 429s;
* :mod:`.diskfull` — a full run-directory disk waited out;
* :mod:`.crash` — an unexpected error closes the session and keeps the traceback.
"""
