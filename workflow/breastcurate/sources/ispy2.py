"""I-SPY2 (TCIA ISPY2 / ACRIN-6698): axial cropped multi-phase DCE series, DICOM SEG analysis masks, clinical xlsx."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..acquire import nbia
from ..demo import dicomgen as g
from ..demo.identity import accession, make_identity, rng_for
from ..demo.xlsx import write_sheets
from .base import DatasetAdapter

COLLECTION = "ISPY2"
CLINICAL_FILE = "ISPY2-Imaging-Cohort-1-Clinical-Data.xlsx"
CLINICAL_COLUMNS = ["Patient_ID", "Arm", "HR", "HER2", "MP", "pCR", "Age_at_Screening", "Race", "ethnicity",
                    "menopausal_status"]
DCE_DESCRIPTION = "ISPY2: VOLSER: uni-lateral cropped: original DCE"
SEG_DESCRIPTION = "ISPY2: VOLSER: uni-lateral cropped: Analysis Mask"
SCANNERS = [("GE MEDICAL SYSTEMS", "SIGNA HDxt", 1.5), ("SIEMENS", "Skyra", 3.0), ("Philips", "Ingenia", 3.0)]
ARMS = ["Paclitaxel", "Paclitaxel + Neratinib", "Paclitaxel + MK-2206", "Paclitaxel + Pembrolizumab"]


BINARY = {"0": 0, "1": 1}
MENOPAUSE = {"Pre": "pre", "Post": "post", "Peri": "peri", "N/A": None}
RACE = {"White": "white", "Black": "black", "Asian": "asian", "Native Hawaiian or Pacific Islander":
        "native_hawaiian_pacific_islander", "American Indian or Alaska Native": "american_indian_alaska_native",
        "Multiple": "multiple", "Unknown": None}
ETHNICITY = {"Not Hispanic or Latino": "not_hispanic", "Hispanic or Latino": "hispanic", "Unknown": None}


class ISPY2(DatasetAdapter):
    key = "ispy2"
    title = "I-SPY2 (ISPY2 and ACRIN-6698)"
    modality = "MR"
    license = "CC BY 4.0"
    redistributable = True
    image_root = COLLECTION
    download = {"transport": "nbia", "url": nbia.DEFAULT_URL, "collection": COLLECTION, "modalities": ["MR", "SEG"]}
    supplementary = (CLINICAL_FILE,)
    descriptor_patterns = (r"ISPY2: VOLSER: (uni-lateral cropped|bi-lateral): (original DCE|SER|PE2|PE6|Analysis Mask)",
                           r"ISPY2_MRI_T[0-3]", r"VOLSER( Analysis Mask)?")

    def clinical(self, root: Path, codes) -> pd.DataFrame:
        """HR, HER2 and pCR as published; subtype derived (HER2+ → her2+, else HR+ → hr+her2-, else tn)."""
        table = pd.read_excel(root / CLINICAL_FILE, sheet_name=0, dtype=object)
        out = pd.DataFrame({"native_patient_id": table.Patient_ID.astype(str)})
        out["age_years"] = pd.to_numeric(table.Age_at_Screening, errors="coerce")
        codes.map(out, "hr", table.HR, BINARY)
        codes.map(out, "her2", table.HER2, BINARY)
        out["subtype"] = [None if h is None or e is None else ("her2+" if e == 1 else ("hr+her2-" if h else "tn"))
                          for h, e in zip(out.hr, out.her2)]
        out["subtype_native"] = [f"HR={h};HER2={e}" for h, e in zip(out.hr_native, out.her2_native)]
        codes.map(out, "pcr", table.pCR, BINARY)
        codes.map(out, "menopause", table.menopausal_status, MENOPAUSE)
        return out

    def demographics(self, root: Path, codes) -> pd.DataFrame:
        table = pd.read_excel(root / CLINICAL_FILE, sheet_name=0, dtype=object)
        out = pd.DataFrame({"native_patient_id": table.Patient_ID.astype(str)})
        codes.map(out, "race", table.Race, RACE)
        codes.map(out, "ethnicity", table.ethnicity, ETHNICITY)
        return out

    def write_demo(self, out: Path, patients: int, seed: int) -> None:
        rows = [self._demo_patient(out, k, rng_for(seed, self.key, k)) for k in range(patients)]
        write_sheets(out / CLINICAL_FILE, {"Sheet1": pd.DataFrame(rows, columns=CLINICAL_COLUMNS)})

    def _demo_patient(self, out: Path, k: int, rng: np.random.Generator):
        number = 100101 + 37 * k
        pid = f"ACRIN-6698-{number}" if k % 5 == 4 else f"ISPY2-{number}"
        who = make_identity(rng)
        manufacturer, model, tesla = SCANNERS[int(rng.integers(len(SCANNERS)))]
        ctx = g.StudyContext(identity=who, patient_id=pid, study_uid=g.uid(rng.bytes(16).hex(), "study"),
                             study_date=who.first_study, study_time=f"{int(rng.integers(7, 17)):02d}1133.000000",
                             accession=accession(rng), study_description="ISPY2_MRI_T0",
                             manufacturer=manufacturer, model=model, station=f"ISPY2-MR{int(rng.integers(1, 9))}")
        spec = g.DCESpec(shape=(16, 48, 48), spacing=(1.4, 1.4), thickness=2.0, orientation=[1, 0, 0, 0, 1, 0],
                         origin=[10.0, -40.0, -16.0], times_s=[0.0, 80.0, 160.0, 240.0, 450.0],
                         field_strength=tesla, tr=round(float(rng.uniform(4.0, 6.0)), 2),
                         te=round(float(rng.uniform(1.5, 2.5)), 2), flip=12.0, bilateral=False, single_series=True,
                         series_descriptions=[DCE_DESCRIPTION], series_numbers=[6100])
        study_dir = nbia.study_dir(COLLECTION, pid, ctx.study_date, ctx.study_description, ctx.study_uid)

        def path_for(phase: int, series_number: int, description: str, instance: int) -> Path:
            series_uid = g.uid(ctx.study_uid, "series", series_number)
            return out / study_dir / nbia.series_dir(series_number, description, series_uid) / \
                f"1-{instance:03d}.dcm"

        pre_slices, _, mask = g.write_dce(ctx, spec, rng, path_for)
        seg_series = g.uid(ctx.study_uid, "series", "seg")
        seg = g.segmentation(ctx, pre_slices, mask, g.uid(seg_series, "sop"), seg_series, "VOLSER Analysis Mask",
                             SEG_DESCRIPTION)
        g.save(seg, out / study_dir / nbia.series_dir(81000, SEG_DESCRIPTION, seg_series) / "1-1.dcm")
        hr, her2 = int(rng.integers(0, 2)), int(rng.integers(0, 2))
        return [pid, str(rng.choice(ARMS)), hr, her2, int(rng.integers(0, 2)), int(rng.random() < 0.35),
                round(float(who.age_at(who.first_study)), 1), str(rng.choice(["White", "Black", "Asian"])),
                str(rng.choice(["Not Hispanic or Latino", "Hispanic or Latino"])),
                str(rng.choice(["Pre", "Post", "Peri", "N/A"]))]


ADAPTER = ISPY2()
