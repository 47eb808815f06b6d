"""Where things live: the one place that knows the results layout (see DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

#: Repository root (the package is installed editable from the clone).
REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = REPO_ROOT / "schemas"


class Layout:
    """Paths under one results directory."""

    def __init__(self, results_dir: str | Path):
        self.root = Path(results_dir)

    @property
    def restricted(self) -> Path:
        return self.root / "restricted"

    @property
    def curated(self) -> Path:
        return self.root / "curated"

    def raw(self, dataset: str) -> Path:
        return self.restricted / "raw" / dataset

    def downloads(self, dataset: str) -> Path:
        """A download's ledger, partial files and completion report (`complete.json`)."""
        return self.restricted / "downloads" / dataset

    def inventory_dir(self, dataset: str) -> Path:
        return self.restricted / "inventory" / dataset

    def inventory_shard(self, dataset: str, shard: int) -> Path:
        return self.inventory_dir(dataset) / f"shard-{shard}.parquet"

    def inventory_rejects(self, dataset: str) -> Path:
        return self.inventory_dir(dataset) / "rejects.parquet"
