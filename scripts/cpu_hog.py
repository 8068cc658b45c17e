"""Keep CPUs busy, to check that the test suite holds on a loaded machine.

    python scripts/cpu_hog.py --procs 2 &                  # until killed (Ctrl-C or kill %1)
    python scripts/cpu_hog.py --procs 4 --seconds 600      # or for ten minutes

Starts N processes that each spin on pure-Python arithmetic (no I/O, no memory growth). The
parent waits; SIGINT or SIGTERM to it stops every burner, and so does the end of --seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
import time
from types import FrameType


def _burn() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent decides when burners stop
    x = 0
    while True:
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=2, help="CPU-burning processes (default 2)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="stop after this long (default: until killed)"
    )
    args = parser.parse_args(argv)
    if args.procs < 1:
        parser.error("--procs must be at least 1")

    burners = [
        multiprocessing.Process(target=_burn, name=f"cpu_hog-{i}", daemon=True)
        for i in range(args.procs)
    ]
    for burner in burners:
        burner.start()
    print(
        f"cpu_hog: {args.procs} burner(s) running (pids {[b.pid for b in burners]})"
        + (f" for {args.seconds:g} s" if args.seconds is not None else "; kill me to stop"),
        file=sys.stderr,
        flush=True,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        if args.seconds is None:
            while True:
                time.sleep(3600)
        else:
            time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        for burner in burners:
            burner.terminate()
        for burner in burners:
            burner.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
