"""The EMBED adapter's table functions on EMBED-sized native tables: 81,776 clinical rows and 480,323 metadata rows with
the open tables' column names and codes (docs/sources/embed.md), as harmonization calls them.

    python benchmarks/harmonize_embed.py [CLINICAL_ROWS] [METADATA_ROWS]     # default 81776 480323; --smoke: 2000 10000

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
from breastcurate.config import section
from breastcurate.demo.embed import CLINICAL_COLUMNS, METADATA_COLUMNS
from breastcurate.sources.embed import ADAPTER, CLINICAL, METADATA
from sizes import parse

#: The open release: clinical rows (one per finding), metadata rows (one per file), exams and patients.
CLINICAL_ROWS, METADATA_ROWS, EXAMS, PATIENTS = 81_776, 480_323, 72_770, 23_253


def write_tables(root: Path, clinical_rows: int, metadata_rows: int, seed: int = 0) -> None:
    """Synthetic tables, one row per finding (clinical) and one per file (metadata), with the open release's
    exams per finding and patients per exam."""
    n_exams = max(1, round(clinical_rows * EXAMS / CLINICAL_ROWS))
    n_patients = max(1, round(n_exams * PATIENTS / EXAMS))
    rng = np.random.default_rng(seed)
    patients = rng.integers(10**7, 10**8, n_patients)
    exam_patient = np.sort(rng.integers(0, n_patients, n_exams))
    exams = rng.integers(10**15, 10**16, n_exams)
    finding_exam = np.sort(np.r_[np.arange(n_exams), rng.integers(0, n_exams, clinical_rows - n_exams)])
    side = rng.choice(np.array(["L", "R", "B", None], dtype=object), clinical_rows, p=[0.3, 0.3, 0.05, 0.35])
    clinical = pd.DataFrame(
        {
            "empi_anon": patients[exam_patient[finding_exam]],
            "acc_anon": exams[finding_exam],
            "study_date_anon": "2019-01-01",
            "desc": rng.choice(["MG Screening Bilateral w/ Tomo", "MG Diagnostic Left w/Tomo"], clinical_rows),
            "tissueden": rng.integers(1, 6, clinical_rows),
            "asses": rng.choice(list("ANBPSMKX"), clinical_rows),
            "numfind": 1,
            "side": side,
            "massshape": rng.choice(np.array(list("GROXQATNBFSVYDL") + [None] * 15, dtype=object), clinical_rows),
            "massmargin": rng.choice(np.array(list("DUMIS") + [None] * 5, dtype=object), clinical_rows),
            "calcfind": rng.choice(np.array(list("A9HCDEFBGILMJKPRSOUVQ") + [None] * 21, dtype=object), clinical_rows),
            "path_severity": rng.choice(np.array([0, 1, 2, 3, 4, 5, 6, None], dtype=object), clinical_rows),
            "ETHNICITY_DESC": rng.choice(["African American or Black", "Caucasian or White", "Asian"], clinical_rows),
            "ETHNIC_GROUP_DESC": rng.choice(["Non-Hispanic or Latino", "Hispanic or Latino"], clinical_rows),
        }
    ).reindex(columns=CLINICAL_COLUMNS)
    image_exam = np.sort(rng.integers(0, n_exams, metadata_rows))
    laterality = rng.choice(["L", "R"], metadata_rows)
    has_roi = rng.random(metadata_rows) < 0.02
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
            "FinalImageType": rng.choice(["2D", "C-view"], metadata_rows, p=[0.76, 0.24]),
            "ImageLateralityFinal": laterality,
            "ImageLaterality": laterality,
            "ViewPosition": rng.choice(["CC", "MLO"], metadata_rows),
            "spot_mag": np.where(rng.random(metadata_rows) < 0.03, 1.0, np.nan),
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


def main(clinical_rows: int, metadata_rows: int, smoke: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_tables(root, clinical_rows, metadata_rows)
        seconds = {}
        codes = Codes("embed")
        for name, call in (
            ("select", lambda: ADAPTER.select(root, section("select", dataset="embed"))),  # the defaults
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
                "clinical_rows": clinical_rows,
                "metadata_rows": metadata_rows,
                "smoke": smoke,
                "seconds": seconds,
                "total_s": total,
                "target_s": 60,
                "within_target": total < 60,
            }
        )
    )


if __name__ == "__main__":
    sizes, smoke = parse(
        __doc__,
        {"clinical_rows": CLINICAL_ROWS, "metadata_rows": METADATA_ROWS},
        {"clinical_rows": 2000, "metadata_rows": 10_000},
    )
    main(**sizes, smoke=smoke)
