"""I-SPY1 / ACRIN 6657 (TCIA ISPY1): sagittal DCE, all phases in one series, two clinical sheets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from ..acquire import nbia
from ..demo import dicomgen as g
from ..demo.identity import accession, make_identity, rng_for
from ..demo.xlsx import write_sheets
from ..harmonize.codes import native_text
from .base import DatasetAdapter

COLLECTION = "ISPY1"
CLINICAL_FILE = "I-SPY 1 All Patient Clinical and Outcome Data.xlsx"
CLINICAL_SHEET = "TCIA Patient Clinical Subset"
OUTCOME_SHEET = "TCIA Outcomes Subset"
CLINICAL_COLUMNS = ["SUBJECTID", "DataExtractDt", "age", "race_id", "ERpos", "PgRpos", "HR Pos", "Her2MostPos",
                    "HR_HER2_CATEGORY", "HR_HER2_STATUS", "BilateralCa", "Laterality", "MRI LD Baseline",
                    "MRI LD 1-3dAC", "MRI LD InterReg", "MRI LD PreSurg"]
OUTCOME_COLUMNS = ["SUBJECTID", "DataExtractDt", "sstat", "survDtD2 (tx)", "RFS", "rfs_ind", "PCR", "RCBClass"]
SCANNERS = [("GE MEDICAL SYSTEMS", "Signa HDx", "Dynamic-3dfgre"), ("SIEMENS", "Avanto", "fl3d_sag_uni_R"),
            ("Philips Medical Systems", "Intera", "T1 SAG DYN")]
STATUS = {1: "HRposHER2neg", 2: "HER2pos", 3: "TripleNeg"}


BINARY = {"0": 0, "1": 1}
SUBTYPE = {"1": "hr+her2-", "2": "her2+", "3": "tn"}
RACE = {"1": "white", "3": "black", "4": "asian", "5": "native_hawaiian_pacific_islander",
        "6": "american_indian_alaska_native", "50": "multiple"}


class ISPY1(DatasetAdapter):
    key = "ispy1"
    title = "I-SPY1 (ACRIN 6657)"
    modality = "MR"
    license = "CC BY 3.0"
    redistributable = True
    image_root = COLLECTION
    download = {"transport": "nbia", "url": nbia.DEFAULT_URL, "collection": COLLECTION, "modalities": ["MR"]}
    supplementary = (CLINICAL_FILE,)
    descriptor_patterns = (r"Dynamic-3dfgre|fl3d_sag_uni_[LR]|T1 SAG DYN|Dynamic-3dfgre (SER|PE1)",
                           r"MRI BREAST (UNILATERAL|LEFT|RIGHT|BILATERAL)")

    def _sheets(self, root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        sheets = pd.read_excel(root / CLINICAL_FILE, sheet_name=[CLINICAL_SHEET, OUTCOME_SHEET], dtype=object)
        clinical, outcome = sheets[CLINICAL_SHEET], sheets[OUTCOME_SHEET]
        for table in (clinical, outcome):
            table.columns = [" ".join(str(c).split()) for c in table.columns]
        return clinical, outcome

    def clinical(self, root: Path, codes) -> pd.DataFrame:
        """Both sheets joined by SUBJECTID; the DICOM patient id is `ISPY1_<SUBJECTID>`."""
        clinical, outcome = self._sheets(root)
        table = clinical.merge(outcome[["SUBJECTID", "PCR"]], on="SUBJECTID", how="left")
        out = pd.DataFrame({"native_patient_id": [f"ISPY1_{native_text(s)}" for s in table.SUBJECTID]})
        out["age_years"] = pd.to_numeric(table["age"], errors="coerce")
        codes.map(out, "er", table["ERpos"], BINARY)
        codes.map(out, "pr", table["PgRpos"], BINARY)
        codes.map(out, "hr", table["HR Pos"], BINARY)
        codes.map(out, "her2", table["Her2MostPos"], BINARY)
        codes.map(out, "subtype", table["HR_HER2_CATEGORY"], SUBTYPE)
        codes.map(out, "pcr", table["PCR"], BINARY)
        return out

    def demographics(self, root: Path, codes) -> pd.DataFrame:
        clinical, _ = self._sheets(root)
        out = pd.DataFrame({"native_patient_id": [f"ISPY1_{native_text(s)}" for s in clinical.SUBJECTID]})
        codes.map(out, "race", clinical["race_id"], RACE)
        return out

    def write_demo(self, out: Path, patients: int, seed: int) -> None:
        clinical, outcome = [], []
        for k in range(patients):
            c, o = self._demo_patient(out, k, rng_for(seed, self.key, k))
            clinical.append(c)
            outcome.append(o)
        write_sheets(out / CLINICAL_FILE, {CLINICAL_SHEET: pd.DataFrame(clinical, columns=CLINICAL_COLUMNS),
                                           OUTCOME_SHEET: pd.DataFrame(outcome, columns=OUTCOME_COLUMNS)})

    def _demo_patient(self, out: Path, k: int, rng: np.random.Generator):
        subject = 1001 + k
        pid = f"ISPY1_{subject}"
        who = make_identity(rng)
        manufacturer, model, description = SCANNERS[int(rng.integers(len(SCANNERS)))]
        # Two visits (T0 baseline, T1 early treatment) about three weeks apart: dates must shift together.
        visits = [who.first_study, who.first_study + dt.timedelta(days=int(rng.integers(14, 28)))]
        for v, day in enumerate(visits):
            ctx = g.StudyContext(identity=who, patient_id=pid, study_uid=g.uid(rng.bytes(16).hex(), "study", v),
                                 study_date=day, study_time=f"{int(rng.integers(7, 17)):02d}3005.000000",
                                 accession=accession(rng), study_description="MRI BREAST UNILATERAL",
                                 manufacturer=manufacturer, model=model, station=f"ACRIN-SITE{int(rng.integers(1, 9))}")
            spec = g.DCESpec(shape=(16, 64, 64), spacing=(2.5, 2.5), thickness=3.0, orientation=[0, 1, 0, 0, 0, -1],
                             origin=[24.0, -80.0, 80.0], times_s=[0.0, 150.0, 300.0, 450.0], field_strength=1.5,
                             tr=round(float(rng.uniform(7.0, 9.0)), 2), te=round(float(rng.uniform(2.0, 4.5)), 2),
                             flip=20.0, bilateral=False, single_series=True, series_descriptions=[description],
                             series_numbers=[4])
            study_dir = nbia.study_dir(COLLECTION, pid, day, ctx.study_description, ctx.study_uid)

            def path_for(phase: int, number: int, series_description: str, instance: int,
                         study_dir=study_dir, ctx=ctx) -> Path:
                series_uid = g.uid(ctx.study_uid, "series", number)
                return out / study_dir / nbia.series_dir(number, series_description, series_uid) / \
                    f"1-{instance:03d}.dcm"

            g.write_dce(ctx, spec, rng, path_for)
        er, pgr, her2 = int(rng.integers(0, 2)), int(rng.integers(0, 2)), int(rng.integers(0, 2))
        hr = int(er or pgr)
        category = 2 if her2 else (1 if hr else 3)
        ld = [int(rng.integers(20, 90))]
        ld += [max(ld[-1] - int(rng.integers(0, 25)), 0) for _ in range(3)]
        pcr = int(rng.random() < 0.3)
        clinical = [subject, "2011-01-07", round(float(who.age_at(who.first_study)) + 0.37, 2),
                    int(rng.choice([1, 1, 3, 4, 50])), er, pgr, hr, her2, category, STATUS[category],
                    0, int(rng.integers(1, 3)), *ld]
        outcome = [subject, "2011-01-07", int(rng.choice([7, 7, 8, 9])), int(rng.integers(300, 3000)),
                   int(rng.integers(200, 3000)), int(rng.random() < 0.2), pcr if rng.random() > 0.1 else None,
                   0 if pcr else int(rng.integers(1, 4))]
        return clinical, outcome


ADAPTER = ISPY1()
