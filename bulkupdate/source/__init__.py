"""What is read: the input, whatever form the caller has it in.

* :mod:`.lines` — a JSONL (plain or gzip) or CSV file as numbered physical lines, streamed;
  counting and scanning an input before a run;
* :mod:`.files` — opening a file as bytes (gzip told by its content), bounded lines;
* :mod:`.csvfile` — CSV rows (one per program update) → the same records as JSONL;
* :mod:`.spool` — standard input or any (async) iterable → the run's own input file, so that
  every run stays resumable.

And what checks a line: :mod:`.sniff` refuses another command's input, :mod:`.validate`
turns one line into a :class:`~.validate.Record` ready to send or an ``Invalid`` naming the field.
"""
