"""Duke-Breast-Cancer-MRI (TCIA): one series per DCE phase, plus clinical, box and filepath-mapping spreadsheets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..acquire import nbia
from ..demo import dicomgen as g
from ..demo.identity import accession, make_identity, rng_for
from ..demo.xlsx import write_multiheader, write_sheets
from ..harmonize.codes import native_text
from .base import VOLUME_BOX_COLUMNS, DatasetAdapter

COLLECTION = "Duke-Breast-Cancer-MRI"
CLINICAL_GROUPS = [
    ("Patient Information", ["Patient ID"]),
    ("Demographics", ["Date of Birth (Days)", "Menopause (at diagnosis)", "Race and Ethnicity"]),
    ("MRI Technical Information", ["Manufacturer", "Manufacturer Model Name", "Field Strength (Tesla)"]),
    ("Tumor Characteristics", ["ER", "PR", "HER2", "Mol Subtype", "Tumor Location"]),
    ("Treatment", ["Neoadjuvant Chemotherapy"]),
    ("Near Complete Response", ["Pathologic Response to Neoadjuvant Therapy"]),
    ("Recurrence", ["Recurrence event(s)", "Days to local recurrence (from the date of diagnosis) "]),
]
CLINICAL_LEGEND = {
    "Date of Birth (Days)": "days relative to the MRI date (negative)",
    "Menopause (at diagnosis)": "0 = pre, 1 = post, 2 = N/A",
    "Race and Ethnicity": "0 = N/A 1 = white, 2 = black, 3 = asian, 4 = native, 5 = hispanic, 6 = multi, 7 = hawa, "
                          "8 = amer indian",
    "ER": "0 = neg, 1 = pos", "PR": "0 = neg, 1 = pos", "HER2": "0 = neg, 1 = pos, 2 = borderline",
    "Mol Subtype": "0 = luminal-like, 1 = ER/PR pos, HER2 pos, 2 = her2, 3 = trip neg",
    "Tumor Location": "L = left, R = right",
    "Neoadjuvant Chemotherapy": "0 = no, 1 = yes",
    "Pathologic Response to Neoadjuvant Therapy": "1 = pCR, 2 = non-pCR, 3 = DCIS only, 4 = LCIS only, "
                                                  "5 = unavailable",
    "Recurrence event(s)": "0 = no, 1 = yes",
}
BOX_COLUMNS = ["Patient ID", "Start Row", "End Row", "Start Column", "End Column", "Start Slice", "End Slice"]
MAPPING_COLUMNS = ["original_path_and_filename", "descriptive_path", "classic_path", "sop_instance_UID"]
SCANNERS = [("GE MEDICAL SYSTEMS", "SIGNA HDxt", 1.5, "ax dyn"), ("SIEMENS", "Avanto", 1.5, "t1fl3dtradynVIEWSspair"),
            ("GE MEDICAL SYSTEMS", "Optima MR450w", 1.5, "ax dyn"), ("SIEMENS", "Skyra", 3.0, "t1fl3dtradynVIEWSspair")]
PASSES = ["pre", "1st pass", "2nd pass", "3rd pass", "4th pass"]


BINARY = {"0": 0, "1": 1}
HER2 = {"0": 0, "1": 1, "2": None}  # 2 = borderline: not positive, not negative
SUBTYPE = {"0": "hr+her2-", "1": "her2+", "2": "her2+", "3": "tn"}
# 3 (DCIS only) and 4 (LCIS only): no residual invasive disease, pCR under the ypT0/is definition.
PCR = {"1": 1, "2": 0, "3": 1, "4": 1, "5": None}
MENOPAUSE = {"0": "pre", "1": "post", "2": None}
RACE = {"0": None, "1": "white", "2": "black", "3": "asian", "4": "american_indian_alaska_native", "5": None,
        "6": "multiple", "7": "native_hawaiian_pacific_islander", "8": "american_indian_alaska_native"}
ETHNICITY = {str(k): ("hispanic" if k == 5 else None) for k in range(9)}


def read_clinical(root: Path) -> pd.DataFrame:
    """`Clinical_and_Other_Features.xlsx`: group row, name row, legend row, then data; names whitespace-squashed."""
    book = pd.ExcelFile(root / "Clinical_and_Other_Features.xlsx")
    sheet = "Data" if "Data" in book.sheet_names else book.sheet_names[0]
    table = pd.read_excel(book, sheet_name=sheet, header=1, dtype=object).iloc[1:].reset_index(drop=True)
    table.columns = [" ".join(str(c).split()) for c in table.columns]
    return table.dropna(subset=["Patient ID"])


class Duke(DatasetAdapter):
    key = "duke"
    title = "Duke-Breast-Cancer-MRI"
    modality = "MR"
    license = "CC BY-NC 4.0"
    redistributable = True
    image_root = COLLECTION
    download = {"transport": "nbia", "url": nbia.DEFAULT_URL, "collection": COLLECTION, "modalities": ["MR"]}
    supplementary = ("Clinical_and_Other_Features.xlsx", "Annotation_Boxes.xlsx")
    descriptor_patterns = (r"(ax dyn|ax 3d dyn|t1fl3dtradynVIEWSspair|Ax Vibrant MultiPhase) ?(pre|1st pass|2nd pass|3rd pass|4th pass)?",
                           r"ax t1( tse)?|Ax 3D T1 NON FS", r"MRI BREAST BILATERAL W\s+WO", r"BREASTROUTINE DYNAMICS")

    def clinical(self, root: Path, codes) -> pd.DataFrame:
        table = read_clinical(root)
        out = pd.DataFrame({"native_patient_id": table["Patient ID"].astype(str)})
        days = pd.to_numeric(table["Date of Birth (Days)"], errors="coerce")
        out["age_years"] = (-days / 365.25).round(2)
        codes.map(out, "er", table["ER"], BINARY)
        codes.map(out, "pr", table["PR"], BINARY)
        codes.map(out, "her2", table["HER2"], HER2)
        hr = [None if e is None or p is None else int(e == 1 or p == 1) for e, p in zip(out.er, out.pr)]
        out["hr"], out["hr_native"] = hr, [f"ER={e};PR={p}" for e, p in zip(out.er_native, out.pr_native)]
        codes.map(out, "subtype", table["Mol Subtype"], SUBTYPE)
        codes.map(out, "pcr", table["Pathologic Response to Neoadjuvant Therapy"], PCR)
        treated = [native_text(v) == "1" for v in table["Neoadjuvant Chemotherapy"]]
        out["pcr"] = [p if t else None for p, t in zip(out.pcr, treated)]  # no NAC: response is not defined
        codes.map(out, "menopause", table["Menopause (at diagnosis)"], MENOPAUSE)
        return out

    def demographics(self, root: Path, codes) -> pd.DataFrame:
        table = read_clinical(root)
        out = pd.DataFrame({"native_patient_id": table["Patient ID"].astype(str)})
        codes.map(out, "race", table["Race and Ethnicity"], RACE)
        codes.map(out, "ethnicity", table["Race and Ethnicity"], ETHNICITY)
        return out

    def volume_boxes(self, root: Path) -> pd.DataFrame:
        """`Annotation_Boxes.xlsx`: 1-based inclusive (row, column, slice) → 0-based half-open (x = column)."""
        table = pd.read_excel(root / "Annotation_Boxes.xlsx", sheet_name=0)
        table.columns = [" ".join(str(c).split()) for c in table.columns]
        rows = []
        for r in table.sort_values("Patient ID").to_dict("records"):
            rows.append([str(r["Patient ID"]), "box_0", int(r["Start Column"]) - 1, int(r["End Column"]),
                         int(r["Start Row"]) - 1, int(r["End Row"]), int(r["Start Slice"]) - 1, int(r["End Slice"]),
                         "{}"])
        return pd.DataFrame(rows, columns=VOLUME_BOX_COLUMNS)

    def write_demo(self, out: Path, patients: int, seed: int) -> None:
        clinical, boxes, mapping = [], [], []
        for k in range(patients):
            c, b, m = self._demo_patient(out, k, rng_for(seed, self.key, k))
            clinical.append(c)
            boxes.append(b)
            mapping += m
        write_multiheader(out / "Clinical_and_Other_Features.xlsx", "Data", CLINICAL_GROUPS, CLINICAL_LEGEND,
                          clinical)
        write_sheets(out / "Annotation_Boxes.xlsx", {"Sheet1": pd.DataFrame(boxes, columns=BOX_COLUMNS)})
        write_sheets(out / "Breast-Cancer-MRI-filepath_filename-mapping.xlsx",
                     {"Sheet1": pd.DataFrame(mapping, columns=MAPPING_COLUMNS)})

    def _demo_patient(self, out: Path, k: int, rng: np.random.Generator):
        pid = f"Breast_MRI_{k + 1:03d}"
        who = make_identity(rng)
        manufacturer, model, tesla, stem = SCANNERS[int(rng.integers(len(SCANNERS)))]
        n_phases = 5 if rng.random() < 0.5 else 4
        ctx = g.StudyContext(identity=who, patient_id=pid, study_uid=g.uid(rng.bytes(16).hex(), "study"),
                             study_date=who.first_study, study_time=f"{int(rng.integers(7, 17)):02d}0512.000000",
                             accession=accession(rng), study_description="MRI BREAST BILATERAL W  WO",
                             manufacturer=manufacturer, model=model, station=f"DUHS-MR{int(rng.integers(1, 6))}")
        descriptions = [f"{stem} {p}" for p in PASSES[:n_phases]]
        numbers = list(range(3, 3 + n_phases))
        spec = g.DCESpec(shape=(24, 64, 64), spacing=(2.8, 2.8), thickness=2.0, orientation=[1, 0, 0, 0, 1, 0],
                         origin=[-89.6, -60.0, -24.0], times_s=[0.0, 135.0, 270.0, 405.0, 540.0][:n_phases],
                         field_strength=tesla, tr=round(float(rng.uniform(4.1, 6.9)), 2),
                         te=round(float(rng.uniform(1.3, 2.7)), 2), flip=10.0, bilateral=True, single_series=False,
                         series_descriptions=descriptions, series_numbers=numbers)
        study_dir = nbia.study_dir(COLLECTION, pid, ctx.study_date, ctx.study_description, ctx.study_uid)
        mapping = []

        def path_for(phase: int, number: int, description: str, instance: int) -> Path:
            series_uid = g.uid(ctx.study_uid, "series", number)
            rel = f"{study_dir}/{nbia.series_dir(number, description, series_uid)}/1-{instance:02d}.dcm"
            sequence = "pre" if phase == 0 else f"post_{phase}"
            mapping.append([f"DICOM_Images/{pid}/{sequence}/{pid}_{sequence}_{instance:02d}.dcm", rel,
                            f"{COLLECTION}/{pid}/{ctx.study_uid}/{series_uid}/1-{instance:02d}.dcm",
                            g.uid(series_uid, "sop", phase, instance - 1)])
            return out / rel

        _, box, _ = g.write_dce(ctx, spec, rng, path_for)
        er, pr = int(rng.integers(0, 2)), int(rng.integers(0, 2))
        her2 = int(rng.choice([0, 0, 1, 2]))
        subtype = 3 if not (er or pr or her2 == 1) else (2 if her2 == 1 and not (er or pr) else
                                                          (1 if her2 == 1 else 0))
        nac = int(rng.integers(0, 2))
        response = int(rng.choice([1, 2, 2, 3, 5])) if nac else None
        dob_days = -(who.first_study - who.birth_date).days
        clinical = [pid, dob_days, int(rng.integers(0, 3)), int(rng.integers(0, 9)), manufacturer, model, tesla,
                    er, pr, her2, subtype, str(rng.choice(["L", "R"])), nac, response, int(rng.random() < 0.1),
                    int(rng.integers(200, 3000)) if rng.random() < 0.1 else None]
        # Boxes are published 1-based and inclusive, in (slice, row, column) of the sorted volume.
        boxes = [pid, box.y0 + 1, box.y1 + 1, box.x0 + 1, box.x1 + 1, box.z0 + 1, box.z1 + 1]
        return clinical, boxes, mapping


ADAPTER = Duke()
