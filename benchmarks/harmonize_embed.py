"""The EMBED adapter's table functions on EMBED-sized native tables: 81,776 clinical rows and 480,323 metadata rows with
the open tables' column names and codes (docs/sources/embed.md), as harmonization calls them.

Prints one JSON line: {"clinical_rows": …, "metadata_rows": …, "seconds": {function: s}, "total_s": …};
target: total under 60 s on 2 cores (every join is a vectorized merge, no per-row scan of another table).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from breastcurate.codes import Codes
from breastcurate.demo.embed import CLINICAL_COLUMNS, METADATA_COLUMNS
from breastcurate.sources.embed import ADAPTER, CLINICAL, METADATA

CLINICAL_ROWS, METADATA_ROWS, EXAMS, PATIENTS = 81_776, 480_323, 72_770, 23_253


def write_tables(root: Path, seed: int = 0) -> None:
    """Synthetic tables of the open release's size: one row per finding (clinical), one per file (metadata)."""
    rng = np.random.default_rng(seed)
    patients = rng.integers(10**7, 10**8, PATIENTS)
    exam_patient = np.sort(rng.integers(0, PATIENTS, EXAMS))
    exams = rng.integers(10**15, 10**16, EXAMS)
    finding_exam = np.sort(np.r_[np.arange(EXAMS), rng.integers(0, EXAMS, CLINICAL_ROWS - EXAMS)])
    side = rng.choice(np.array(["L", "R", "B", None], dtype=object), CLINICAL_ROWS, p=[0.3, 0.3, 0.05, 0.35])
    clinical = pd.DataFrame(
        {
            "empi_anon": patients[exam_patient[finding_exam]],
            "acc_anon": exams[finding_exam],
            "study_date_anon": "2019-01-01",
            "desc": rng.choice(["MG Screening Bilateral w/ Tomo", "MG Diagnostic Left w/Tomo"], CLINICAL_ROWS),
            "tissueden": rng.integers(1, 6, CLINICAL_ROWS),
            "asses": rng.choice(list("ANBPSMKX"), CLINICAL_ROWS),
            "numfind": 1,
            "side": side,
            "massshape": rng.choice(np.array(list("GROXQATNBFSVYDL") + [None] * 15, dtype=object), CLINICAL_ROWS),
            "massmargin": rng.choice(np.array(list("DUMIS") + [None] * 5, dtype=object), CLINICAL_ROWS),
            "calcfind": rng.choice(np.array(list("A9HCDEFBGILMJKPRSOUVQ") + [None] * 21, dtype=object), CLINICAL_ROWS),
            "path_severity": rng.choice(np.array([0, 1, 2, 3, 4, 5, 6, None], dtype=object), CLINICAL_ROWS),
            "ETHNICITY_DESC": rng.choice(["African American or Black", "Caucasian or White", "Asian"], CLINICAL_ROWS),
            "ETHNIC_GROUP_DESC": rng.choice(["Non-Hispanic or Latino", "Hispanic or Latino"], CLINICAL_ROWS),
        }
    ).reindex(columns=CLINICAL_COLUMNS)
    image_exam = np.sort(rng.integers(0, EXAMS, METADATA_ROWS))
    laterality = rng.choice(["L", "R"], METADATA_ROWS)
    has_roi = rng.random(METADATA_ROWS) < 0.02
    roi = np.where(has_roi, "((1951, 347, 2244, 626),)", "()")
    paths = [
        f"./images/cohort_1/{patients[exam_patient[e]]}/1.2.{exams[e]}/1.3.{e}/1.4.{i}.dcm"
        for i, e in enumerate(image_exam)
    ]
    metadata = pd.DataFrame(
        {
            "empi_anon": patients[exam_patient[image_exam]],
            "acc_anon": exams[image_exam],
            "anon_dicom_path": paths,
            "FinalImageType": rng.choice(["2D", "C-view"], METADATA_ROWS, p=[0.76, 0.24]),
            "ImageLateralityFinal": laterality,
            "ImageLaterality": laterality,
            "ViewPosition": rng.choice(["CC", "MLO"], METADATA_ROWS),
            "spot_mag": np.where(rng.random(METADATA_ROWS) < 0.03, 1.0, np.nan),
            "num_roi": has_roi.astype(int),
            "ROI_coords": roi,
            "match_level": np.where(has_roi, "[1]", None),
            "Manufacturer": "HOLOGIC, Inc.",
            "Rows": 4096,
            "Columns": 3328,
        }
    ).reindex(columns=METADATA_COLUMNS)
    (root / "tables").mkdir(parents=True)
    clinical.to_csv(root / CLINICAL, index=False)
    metadata.to_csv(root / METADATA, index=False)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tables(root)
        seconds = {}
        codes = Codes("embed")
        for name, call in (
            ("select", lambda: ADAPTER.select(root, {"image_types": ["2d", "synthetic2d"]})),
            ("image_boxes", lambda: ADAPTER.image_boxes(root)),
            ("image_labels", lambda: ADAPTER.image_labels(root, codes)),
            ("finding_labels", lambda: ADAPTER.finding_labels(root, codes)),
            ("demographics", lambda: ADAPTER.demographics(root, codes)),
        ):
            start = time.perf_counter()
            rows = len(call())
            seconds[name] = round(time.perf_counter() - start, 2)
            print(f"{name}: {rows} rows in {seconds[name]} s", file=sys.stderr)
    total = round(sum(seconds.values()), 2)
    print(
        json.dumps(
            {
                "clinical_rows": CLINICAL_ROWS,
                "metadata_rows": METADATA_ROWS,
                "seconds": seconds,
                "total_s": total,
                "target_s": 60,
                "within_target": total < 60,
            }
        )
    )


if __name__ == "__main__":
    main()
