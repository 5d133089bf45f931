"""Run the benchmarks: ``python -m bench`` runs all, ``python -m bench NAME [args]`` one.

Every module in this package that defines ``main(argv: list[str]) -> int`` is a
benchmark, named after the module.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> dict[str, object]:
    found = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "main", None)):
            found[info.name] = module
    return found


def run(argv: list[str]) -> int:
    benches = available()
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m bench [NAME [ARGS...]]\navailable:", ", ".join(sorted(benches)) or "none")
        return 0
    if argv:
        name, rest = argv[0], argv[1:]
        if name not in benches:
            print(f"unknown benchmark {name!r}; available: {', '.join(sorted(benches))}", file=sys.stderr)
            return 2
        return benches[name].main(rest)
    status = 0
    for name in sorted(benches):
        print(f"\n=== bench {name}")
        status |= benches[name].main([])
    return status


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
