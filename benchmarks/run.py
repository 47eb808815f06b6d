"""Run every stage benchmark and print one JSON summary of the ratios the stage issues name.

Each benchmark script prints one JSON line last; this collects them: {"machine": …, "benchmarks": {name: result}}.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = {  # name → (script, arguments, the ratio key and its target)
    "deid_mammo": ("deid_mammo.py", ["8"], "ratio ≤ 1.5 vs pydicom read+write"),
    "convert_mammo": ("convert_mammo.py", ["5"], "ratio ≤ 1.3 vs pydicom decode + fastest PNG encoder"),
    "convert_mri": ("convert_mri.py", [], "ratio ≤ 1.2 vs dcm2niix"),
    "radiomics_roi": ("radiomics_roi.py", ["5"], "seconds per DCE lesion ROI (≈30×30×20 voxels, two phases)"),
    "dag_scale": ("dag_scale.py", [], "snakemake -n < 60 s for 10⁶ files / 10⁵ patients; jobs independent of files"),
    "harmonize_embed": ("harmonize_embed.py", [], "EMBED adapter table functions on 81,776 + 480,323 rows < 60 s"),
    "catalog_size": ("catalog_size.py", [], "catalog.duckdb with EMBED's 480,323 image rows: size in MB"),
    "phi_scan": ("phi_scan.py", [], "scan ≤ 10 % of to-png / to-nifti time per full-size file"),
    "data_loader": ("data_loader.py", ["5"], "MammogramDataset item ≤ 1.2 × a bare PNG decode (4096×3328)"),
    "pipeline": ("pipeline.py", ["1"], "all six open corpora ≤ 6 h on one 32-core node; peak RSS ≤ mem_mb"),
}


def main() -> None:
    results = {}
    for name, (script, args, target) in BENCHMARKS.items():
        proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True)
        lines = proc.stdout.strip().splitlines()
        results[name] = {
            "target": target,
            **(json.loads(lines[-1]) if proc.returncode == 0 and lines else {"error": proc.stderr.strip()[-500:]}),
        }
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }
    print(json.dumps({"machine": machine, "benchmarks": results}))


if __name__ == "__main__":
    main()
