"""De-identification speed on full-size mammograms (4096×3328, 16-bit) against a bare pydicom read + write.

Prints one JSON line: {"files": N, "deid_s": …, "pydicom_rw_s": …, "ratio": …}; target ratio ≤ 1.5.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pydicom

from breastcurate.deid.keys import DEMO_KEY
from breastcurate.deid.profile import DEFAULT_OPTIONS
from breastcurate.deid.run import Collector, _process, make_deidentifier
from mammograms import make_files


def main(n: int = 6) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = make_files(folder, n, 1, "bench")
        out = folder / "out"
        (out / "ref").mkdir(parents=True)
        start = time.perf_counter()
        for path in files:
            ds = pydicom.dcmread(path)
            ds.save_as(out / "ref" / path.name, enforce_file_format=True)
        bare = time.perf_counter() - start
        deid = make_deidentifier(DEMO_KEY, "vindr_mammo", tuple(k for k, v in DEFAULT_OPTIONS.items() if v))
        collector = Collector("bench")
        start = time.perf_counter()
        for path in files:
            _process(deid, path.read_bytes(), None, path.name, out / "deid", collector, None)
        ours = time.perf_counter() - start
    print(json.dumps({"files": n, "deid_s": round(ours, 3), "pydicom_rw_s": round(bare, 3),
                      "ratio": round(ours / bare, 2)}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
