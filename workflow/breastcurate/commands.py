"""How a stage adds its subcommands to the `breastcurate` command (each stage package has a `commands.py` with a
`register(registry)` function; `cli.py` only collects them)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any

from .layout import Scope


@dataclass
class Registry:
    """The subcommands, split into those users call and those the Snakefile's rules call."""

    subparsers: Any  # argparse's _SubParsersAction
    user: list[tuple[str, str]] = field(default_factory=list)
    pipeline: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, help: str, pipeline: bool = False) -> argparse.ArgumentParser:
        """A new subcommand's parser; set its handler with `parser.set_defaults(func=...)`."""
        (self.pipeline if pipeline else self.user).append((name, help))
        return self.subparsers.add_parser(name, description=help)


def json_arg(text: str | None) -> dict:
    """A config block passed by a rule as JSON (empty when absent)."""
    return json.loads(text) if text else {}


def add_scope(parser: argparse.ArgumentParser, versions: bool = False) -> None:
    """The arguments of a job that reads table parts: the scope its rule declared them for (`scope_arg`)."""
    parser.add_argument(
        "--dataset", dest="datasets", action="append", required=True, help="a dataset of the run (repeatable)"
    )
    parser.add_argument("--n-shards", type=int, required=True, help="the run's shard count")
    if versions:
        parser.add_argument(
            "--split-version", dest="split_versions", action="append", default=[], help="a split version (repeatable)"
        )


def scope_arg(args: argparse.Namespace) -> Scope:
    """The scope `add_scope`'s arguments name."""
    return Scope(
        tuple(sorted(args.datasets)), args.n_shards, tuple(sorted(getattr(args, "split_versions", None) or []))
    )
