"""The command line every benchmark shares: its sizes as optional positional integers, or `--smoke` for a run of a
few seconds on a few small inputs that only proves the benchmark still runs and prints its fields
(`benchmarks/run.py --smoke`, part of `make test`). A smoke run checks no timing target."""

from __future__ import annotations

import argparse
import sys


def parse(doc: str | None, full: dict[str, int], smoke: dict[str, int]) -> tuple[dict[str, int], bool]:
    """The sizes named in `full` (its values are the defaults), from the command line; `--smoke` takes the `smoke`
    values instead. Returns the sizes and whether this is a smoke run."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    parser.add_argument("--smoke", action="store_true", help="a few small inputs: check it runs, time nothing")
    for name, default in full.items():
        parser.add_argument(name, type=int, nargs="?", help=f"default {default}, {smoke[name]} with --smoke")
    args = parser.parse_args(sys.argv[1:])
    chosen = smoke if args.smoke else full
    return {name: chosen[name] if getattr(args, name) is None else getattr(args, name) for name in full}, args.smoke
