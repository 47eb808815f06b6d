"""One log format for every command: `breastcurate <stage>[ <dataset>][ shard <k>]: <level>: <message>` on standard
error. Standard output is left to a command's actual output (`print`)."""

from __future__ import annotations

import logging
import sys


class _Format(logging.Formatter):
    """Prefixes each record with the command (stage), and the dataset and shard when the command has them."""

    def __init__(self, stage: str, dataset: str | None, shard: int | None):
        super().__init__()
        where = " ".join(
            [f"breastcurate {stage}"]
            + ([dataset] if dataset else [])
            + ([f"shard {shard}"] if shard is not None else [])
        )
        self.prefix = where

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.prefix}: {record.levelname.lower()}: {record.getMessage()}"


def configure(stage: str, dataset: str | None = None, shard: int | None = None) -> None:
    """Send the package's log records (INFO and above) to standard error in the one format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Format(stage, dataset, shard))
    logger = logging.getLogger("breastcurate")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
