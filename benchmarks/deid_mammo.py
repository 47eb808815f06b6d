"""De-identification speed on full-size mammograms (4096×3328, 16-bit) against a bare pydicom read + write.

Prints one JSON line: {"files": N, "deid_s": …, "pydicom_rw_s": …, "ratio": …}; target ratio ≤ 1.5.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from breastcurate.deid.keys import DEMO_KEY
from breastcurate.deid.profile import options_from_config
from breastcurate.deid.run import Collector, _process, make_deidentifier
from mammograms import make_files


def main(n: int = 6, rounds: int = 3) -> None:
    """Alternate the two over `rounds` (syncing dirty pages before each) and keep each one's best time: writing
    hundreds of MB makes single timings depend on what the kernel is flushing."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = make_files(folder, n, 1, "bench")
        deid = make_deidentifier(DEMO_KEY, "vindr_mammo", options_from_config(None))
        bare, ours = [], []
        for r in range(rounds):
            out = folder / f"out{r}"
            (out / "ref").mkdir(parents=True)
            os.sync()
            start = time.perf_counter()
            for path in files:
                ds = pydicom.dcmread(path)
                ds.save_as(out / "ref" / path.name, enforce_file_format=True)
            bare.append(time.perf_counter() - start)
            collector = Collector("bench")
            os.sync()
            start = time.perf_counter()
            for path in files:
                _process(deid, path, None, path.name, out / "deid", collector, None)
            ours.append(time.perf_counter() - start)
            shutil.rmtree(out)
    print(
        json.dumps(
            {
                "files": n,
                "rounds": rounds,
                "deid_s": round(min(ours), 3),
                "pydicom_rw_s": round(min(bare), 3),
                "ratio": round(min(ours) / min(bare), 2),
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
