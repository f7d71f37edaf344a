"""Run every benchmark of engagegen in one process after another and print their tables.

Usage: ``python benchmarks/run.py [NAME ...]`` (names like ``bcm``, ``ic``, ``scoring``; all by default).
Benchmarks print tables; nothing here asserts on time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        wanted = {f"bench_{name}.py" for name in argv}
        unknown = wanted - {s.name for s in scripts}
        if unknown:
            print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have {', '.join(s.stem[6:] for s in scripts)}")
            return 2
        scripts = [s for s in scripts if s.name in wanted]
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        if subprocess.call([sys.executable, str(script)]) != 0:
            failed.append(script.stem)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
