"""`python -m ems.drills [DRILL ...] [--stack real|embedded] [--json FILE]`: run failure drills.

Starts its own servers (real Kafka/PostgreSQL/Redis as `make test` does, or the embedded stack),
runs the drills named (default: all that the stack allows), prints one line per drill — records
sent, accounted for, duplicated, dead-lettered, recovery time — and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from ems.drills import DRILLS, run_drill
from ems.drills.report import DrillReport, table
from ems.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ems.drills", description=__doc__.splitlines()[0])
    parser.add_argument("drills", nargs="*", help=f"which drills (default: all): {', '.join(DRILLS)}")
    parser.add_argument("--stack", choices=("real", "embedded"), default="real")
    parser.add_argument("--json", help="also write the reports to this file as JSON")
    parser.add_argument("--logs", help="folder for the processes' logs (default: a temporary one)")
    args = parser.parse_args(argv)
    setup_logging()
    unknown = set(args.drills) - set(DRILLS)
    if unknown:
        parser.error(f"unknown drill(s) {sorted(unknown)}; choose from {', '.join(DRILLS)}")
    if args.stack == "embedded":
        from ems.infra.embedded import EmbeddedStack

        stack = EmbeddedStack(None)
    else:
        from ems.infra.servers import RealStack

        stack = RealStack()
    logs = Path(args.logs or tempfile.mkdtemp(prefix="ems-drills-"))
    logs.mkdir(parents=True, exist_ok=True)
    reports: list[DrillReport] = []
    with stack:
        for name in args.drills or list(DRILLS):
            started = time.monotonic()
            print(f"drill {name} ...", file=sys.stderr, flush=True)
            report = run_drill(name, stack, logs)
            print(
                f"drill {name}: {'ok' if report.ok else 'FAILED'} in {time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            reports.append(report)
    print(table(reports))
    print(f"logs: {logs}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
