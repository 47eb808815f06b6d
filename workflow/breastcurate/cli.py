"""The `breastcurate` command. Each stage registers its own subcommands (`<stage>/commands.py`); Snakemake rules
call the same functions a user does.

Expected failures (bad config or input, refused credentials, failed checks) raise `BreastcurateError`: the message
is logged in one line and the exit code is 1. Anything else is a bug and keeps its traceback. A reader that stops
early (`| head`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from . import __version__, log
from .commands import Registry
from .errors import BreastcurateError
from .layout import shard_in_path

#: Stage packages whose `commands.register` adds subcommands, in the order of the pipeline.
STAGES = (
    "demo",
    "acquire",
    "inventory",
    "deid",
    "convert",
    "harmonize",
    "radiomics",
    "splits",
    "catalog",
    "checks",
    "release",
)


def _data_dictionary(args: argparse.Namespace) -> int:
    from .atomic import write_bytes
    from .catalog.build import views_dictionary
    from .tables import data_dictionary

    write_bytes(args.out, (data_dictionary() + "\n" + views_dictionary()).encode())
    print(f"data dictionary written to {args.out}")
    return 0


def _config_reference(args: argparse.Namespace) -> int:
    from .atomic import write_bytes
    from .config_reference import config_reference

    write_bytes(args.out, config_reference().encode())
    print(f"configuration reference written to {args.out}")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .config import load_config
    from .preflight import check_run

    versions = check_run(load_config(args.config), Path(args.workflow_dir))
    print(f"{args.config}: valid; key, mirrors and parameter files found; split versions {', '.join(versions)}")
    return 0


def _register_tools(registry: Registry) -> None:
    p = registry.add("data-dictionary", "write the catalog's data dictionary (Markdown): its tables and joined views")
    p.add_argument("--out", default="docs/catalog.md")
    p.set_defaults(func=_data_dictionary)

    p = registry.add("config-reference", "write the configuration reference (Markdown) from the config schema")
    p.add_argument("--out", default="docs/configuration.md")
    p.set_defaults(func=_config_reference)

    p = registry.add(
        "check-config",
        "validate a config file and check offline what a run of it needs (key, mirrors, split versions, parameters)",
    )
    p.add_argument("config")
    p.add_argument(
        "--workflow-dir", default=".", help="the checkout the config's relative files are in (default: here)"
    )
    p.set_defaults(func=_check_config)


def _listing(title: str, commands: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in commands)
    return "\n".join([title] + [f"  {name.ljust(width)}  {text}" for name, text in commands])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="breastcurate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Public breast-imaging collections → one de-identified, harmonized, versioned catalog.",
    )
    parser.add_argument("--version", action="version", version=f"breastcurate {__version__}")
    registry = Registry(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    for stage in STAGES:
        importlib.import_module(f".{stage}.commands", __package__).register(registry)
    _register_tools(registry)
    parser.epilog = (
        _listing("commands for users:", registry.user)
        + "\n\n"
        + _listing("commands the pipeline's rules run (one shard or dataset each):", registry.pipeline)
    )
    return parser


def _shard(args: argparse.Namespace) -> int | None:
    """The shard a pipeline command works on: the one shard its Layout paths name (None for none or several)."""
    values = [v for value in vars(args).values() for v in (value if isinstance(value, list) else [value])]
    shards = {k for v in values if isinstance(v, str) and (k := shard_in_path(v)) is not None}
    return shards.pop() if len(shards) == 1 else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dataset = getattr(args, "dataset", None)
    log.configure(args.command, dataset if isinstance(dataset, str) else None, _shard(args))
    try:
        return args.func(args)
    except BreastcurateError as exc:
        logging.getLogger("breastcurate").error("%s", exc)
        return 1
    except BrokenPipeError:  # the reader of our output went away: nothing left to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
