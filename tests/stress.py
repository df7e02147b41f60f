"""The suite under load: ``make test-stress``.

    python tests/stress.py [--runs 20] [--busy 1] [--keep-going] [-- PYTEST ARGS]

Runs pytest ``--runs`` times in a row while ``--busy`` other processes each keep
a core busy, as a shared CI machine would, and prints one line per run and a
tally. Exits 0 only when every run passed. Extra arguments go to pytest, e.g.
``-- tests/e2e/test_resilience.py`` to repeat one file.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BUSY_LOOP = "while True: pass"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--busy", type=int, default=1, help="cores kept busy (default 1)")
    parser.add_argument("--keep-going", action="store_true",
                        help="go on after a failed run (default: stop at the first)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.busy)]
    failed: list[int] = []
    n = 0
    try:
        for n in range(1, args.runs + 1):
            started = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   *args.pytest_args], capture_output=True, text=True)
            lines = proc.stdout.strip().splitlines()
            last = lines[-1] if lines else proc.stderr.strip()[-200:]
            print(f"run {n}/{args.runs}: {'ok' if proc.returncode == 0 else 'FAILED'} in "
                  f"{time.monotonic() - started:.0f} s — {last}", flush=True)
            if proc.returncode != 0:
                failed.append(n)
                print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n", flush=True)
                if not args.keep_going:
                    break
    finally:
        for p in busy:
            p.kill()
            p.wait()
    print(f"{n - len(failed)} of {n} runs passed with {args.busy} core(s) kept busy"
          + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
