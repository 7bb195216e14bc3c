"""Process-level fault injection for Yiwang: see RELIABILITY.md (written by this run) and
`tests/faults/run --help`.

Usage: python faults.py --bin target/release/yiwang [--only a,b] [--seconds N] [--clients N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the work tree

from clients import generate_stubs  # noqa: E402
from report import table, write  # noqa: E402
from scenarios import SCENARIOS, failed_row, run_scenario  # noqa: E402
from stack import Stack, log  # noqa: E402
from workloads import Shared  # noqa: E402


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Yiwang process-level fault injection")
    p.add_argument("--bin", default=os.path.join(REPO, "target/release/yiwang"), help="the yiwang binary")
    p.add_argument("--only", default="", help="comma-separated scenarios (see --list)")
    p.add_argument("--seconds", type=float, default=15, help="load window per scenario (default 15)")
    p.add_argument("--clients", type=int, default=4, help="concurrent client threads (1-8, default 4)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and its logs")
    p.add_argument("--out", default=os.path.join(REPO, "RELIABILITY.md"), help="report file")
    p.add_argument("--command", default="", help="the command line to record in the report")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    a = p.parse_args()
    a.clients = max(1, min(8, a.clients))
    a.seconds = max(4.0, a.seconds)
    return a


def main() -> int:
    args = parse()
    if args.list:
        for name, (what, *_rest) in SCENARIOS.items():
            print(f"{name:22} {what}")
        return 0
    selected = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = [s for s in selected if s not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        print(f"no executable yiwang binary at {binary} (build it, or pass --bin / --build)", file=sys.stderr)
        return 2
    command = args.command or " ".join(["tests/faults/run", *sys.argv[1:]])
    started = time.time()
    root = tempfile.mkdtemp(prefix="yiwang-faults-")
    # PostgreSQL runs as its own user when we are root: it must reach its directory.
    os.chmod(root, 0o755)
    stack = Stack(binary, root)

    # Ctrl-C / SIGTERM: unwind through the finally below, which ends every process we started.
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    rows = []
    interrupted = False
    try:
        generate_stubs(os.path.join(REPO, "proto"), os.path.join(root, "stubs"))
        stack.boot()
        shared = Shared(stack)
        for i, name in enumerate(selected):
            try:
                rows.append(run_scenario(stack, shared, name, i, args.seconds, args.clients))
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - one broken scenario must not hide the others
                log(f"  scenario {name} failed: {type(e).__name__}: {e}")
                rows.append(failed_row(name, e))
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; cleaning up")
    except Exception as e:  # noqa: BLE001 - e.g. the stack did not boot: still write the report
        log(f"suite failed: {type(e).__name__}: {e}")
        if not rows:
            rows.append(failed_row(selected[0], e))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.close()
        try:
            write(args.out, rows, command, binary, started, selected)
            print()
            print(table(rows))
            print()
            log(f"report written to {args.out}")
        except Exception as e:  # noqa: BLE001
            log(f"could not write the report: {e}")
        if args.keep:
            log(f"logs kept in {root}/logs")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if interrupted:
        return 130
    return 1 if any(r.failures for r in rows) or len(rows) < len(selected) else 0


if __name__ == "__main__":
    sys.exit(main())
