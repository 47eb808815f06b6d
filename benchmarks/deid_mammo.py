"""De-identification speed on full-size mammograms (4096×3328, 16-bit) against a bare pydicom read + write.

Ours is `deidentify_folder`, the function behind `breastcurate deidentify IN OUT` (every file de-identified and
written, then the audit, linkage and PHI-value tables written to the restricted folder), per file beyond the first.

    python benchmarks/deid_mammo.py [FILES] [ROUNDS]     # defaults 6 3; --smoke: 2 small files, 1 round

Prints one JSON line: {"files": N, "deid_s_per_file": …, "pydicom_rw_s_per_file": …, "ratio": …, …}; target ratio ≤ 1.5.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pydicom
from breastcurate.deid.keys import DEMO_KEY
from breastcurate.deid.profile import options_from_config
from breastcurate.deid.run import deidentify_folder
from mammograms import FULL_FIELD, SMOKE, make_files
from sizes import parse


def main(files: int, rounds: int, smoke: bool) -> None:
    """Alternate the two over `rounds` (syncing dirty pages before each) and keep each one's best time: writing
    hundreds of MB makes single timings depend on what the kernel is flushing. A folder of one file is timed too:
    the cost per file is the cost beyond that first one (the de-identifier's set-up and the tables are paid once
    per folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        size = SMOKE if smoke else FULL_FIELD
        paths = make_files(folder / "in", files, 1, "bench", size)
        (folder / "one").mkdir()
        shutil.copy(paths[0], folder / "one" / paths[0].name)
        options = options_from_config(None)

        def deidentify(source: Path, out: Path, expected: int) -> float:
            os.sync()
            start = time.perf_counter()
            collector = deidentify_folder(source, out / "deid", out / "restricted", DEMO_KEY, options)
            seconds = time.perf_counter() - start
            if collector.rejects or len(collector.filemap) != expected:
                raise SystemExit(f"de-identified {len(collector.filemap)} of {expected} files: {collector.rejects[:2]}")
            return seconds

        deidentify(folder / "one", folder / "warm-up", 1)  # imports and caches filled once per process
        bare, ours, first = [], [], []
        for r in range(rounds):
            out = folder / f"out{r}"
            (out / "ref").mkdir(parents=True)
            os.sync()
            start = time.perf_counter()
            for path in paths:
                ds = pydicom.dcmread(path)
                ds.save_as(out / "ref" / path.name, enforce_file_format=True)
            bare.append(time.perf_counter() - start)
            first.append(deidentify(folder / "one", out / "one", 1))
            ours.append(deidentify(folder / "in", out / "all", files))
            shutil.rmtree(out)
    per_file = (min(ours) - min(first)) / (files - 1)
    print(
        json.dumps(
            {
                "files": files,
                "rounds": rounds,
                "smoke": smoke,
                "rows": size[0],
                "columns": size[1],
                "deid_s": round(min(ours), 3),
                "deid_one_file_s": round(min(first), 3),
                "deid_s_per_file": round(per_file, 3),
                "pydicom_rw_s": round(min(bare), 3),
                "pydicom_rw_s_per_file": round(min(bare) / files, 3),
                "ratio": round(per_file / (min(bare) / files), 2),
            }
        )
    )


if __name__ == "__main__":
    sizes, smoke = parse(__doc__, {"files": 6, "rounds": 3}, {"files": 2, "rounds": 1})
    main(**sizes, smoke=smoke)
