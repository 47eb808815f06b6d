"""Exams, breasts and priors (harmonize/exams.py): in-process on small frames, a property over random exam dates,
and on the demo run against what each source's native tables say."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from breastcurate.deid.keys import DEMO_KEY, Keyed
from breastcurate.harmonize import exams
from hypothesis import given, settings
from hypothesis import strategies as st

KEYED = Keyed(DEMO_KEY)


def _image(patient, study, uid, lat, view, exam_native=None, outcome=None, evidence=None, birads=None, kind="2d"):
    return {
        "patient_id": patient,
        "study_uid": study,
        "image_uid": uid,
        "variant": "canonical",
        "laterality": lat,
        "view": view,
        "image_type": kind,
        "exam_native": exam_native,
        "outcome": outcome,
        "outcome_evidence": evidence,
        "outcome_native": None if outcome is None else f"x={outcome}",
        "birads": birads,
        "density": "B",
    }


def _studies(dates: dict[str, str | None], patient="P-1", modality="MG") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": patient,
            "study_uid": list(dates),
            "modality": modality,
            "study_date": list(dates.values()),
            "n_phases": 0,
        }
    )


def test_views_filed_as_separate_studies_form_one_exam_with_no_zero_day_prior():
    # CBIS-DDSM: every view is its own study, all one DDSM case; no dates.
    images = pd.DataFrame(
        [
            _image("P-1", f"s{k}", f"i{k}", lat, view, exam_native="P_00001", outcome=o, evidence="pathology")
            for k, (lat, view, o) in enumerate(
                [("L", "CC", "malignant"), ("L", "MLO", "benign"), ("R", "CC", None), ("R", "MLO", None)]
            )
        ]
    )
    out = exams.build("cbis_ddsm", KEYED, images, pd.DataFrame(), _studies(dict.fromkeys(images.study_uid)), {}, None)
    assert len(out.exams) == 1
    exam = out.exams.iloc[0]
    assert exam.views == "L-CC,L-MLO,R-CC,R-MLO" and exam.complete_screening_views and exam.n_images == 4
    assert pd.isna(exam.prior_exam_id) and pd.isna(exam.exam_day) and exam.visit == 0
    assert out.images.exam_id.nunique() == 1 and set(out.images.breast_id) == {f"{exam.exam_id}-L", f"{exam.exam_id}-R"}
    breasts = out.breasts.set_index("laterality")
    assert breasts.loc["L", "outcome"] == "malignant"  # the most severe of the breast's images
    assert pd.isna(breasts.loc["R", "outcome"]) and breasts.loc["L", "n_images"] == 2


def test_priors_are_strictly_earlier_exams_and_same_day_exams_are_not_priors():
    images = pd.DataFrame(
        [
            _image("P-1", "a", "1", "L", "CC", exam_native="acc1"),
            _image("P-1", "b", "2", "L", "CC", exam_native="acc2"),
            _image("P-1", "c", "3", "R", "CC", exam_native="acc3"),  # the same day as acc2: diagnostic after screening
        ]
    )
    studies = _studies({"a": "2001-03-01", "b": "2002-03-11", "c": "2002-03-11"})
    out = exams.build("embed", KEYED, images, pd.DataFrame(), studies, {}, None).exams.set_index("exam_id")
    ids = {n: KEYED.exam("embed", "P-1", f"exam:{n}") for n in ("acc1", "acc2", "acc3")}
    assert out.loc[ids["acc1"], "exam_day"] == 0 and out.loc[ids["acc2"], "exam_day"] == 375
    for later in ("acc2", "acc3"):
        assert out.loc[ids[later], "prior_exam_id"] == ids["acc1"]
        assert out.loc[ids[later], "days_since_prior"] == 375
    assert sorted(out.visit) == [0, 1, 2]


def test_mri_visits_are_exams_with_their_labels_and_the_cancer_side_is_malignant():
    volumes = pd.DataFrame(
        {
            "patient_id": "P-9",
            "study_uid": ["t0", "t0", "t1"],
            "phase": ["pre", "post_1", "pre"],
            "path": ["a", "b", "c"],
        }
    )
    studies = _studies({"t0": "2003-01-01", "t1": "2003-01-22"}, patient="P-9", modality="MR").assign(n_phases=[2, 1])
    out = exams.build("ispy1", KEYED, pd.DataFrame(), volumes, studies, {"P-9": ("R", "Laterality=2")}, "T{visit}")
    by_label = out.exams.set_index("visit_label")
    assert by_label.loc["T1", "prior_exam_id"] == by_label.loc["T0", "exam_id"]
    assert by_label.loc["T1", "days_since_prior"] == 21 and by_label.loc["T0", "n_phases"] == 2
    assert out.volumes.exam_id.nunique() == 2 and out.volumes.breast_id.isna().all()
    right = out.breasts[out.breasts.laterality == "R"]
    assert set(right.outcome) == {"malignant"} and set(right.outcome_evidence) == {"pathology"}
    assert out.breasts[out.breasts.laterality == "L"].outcome.isna().all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.dates(dt.date(1990, 1, 1), dt.date(2000, 1, 1))), min_size=1, max_size=6))
def test_every_prior_is_an_earlier_dated_exam_of_the_patient(dates):
    studies = {f"s{k}": (None if d is None else d.isoformat()) for k, d in enumerate(dates)}
    images = pd.DataFrame([_image("P-1", s, f"i{s}", "L", "CC") for s in studies])
    out = exams.build("vindr_mammo", KEYED, images, pd.DataFrame(), _studies(studies), {}, None).exams
    assert sorted(out.visit) == list(range(len(dates)))
    day = dict(zip(out.exam_id, out.exam_day))
    for row in out.itertuples():
        if pd.isna(row.prior_exam_id):  # the first dated exam, or one without a date
            assert pd.isna(row.exam_day) or not [d for d in out.exam_day.dropna() if d < row.exam_day]
        else:
            assert row.days_since_prior >= 1 and day[row.prior_exam_id] + row.days_since_prior == row.exam_day


# --- on the demo run: the exams the native tables imply, every breast's outcome, the multi-view dataset -------------


def _catalog(demo_run, sql: str) -> pd.DataFrame:
    import duckdb

    with duckdb.connect(str(demo_run[0] / "results/catalog.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def _linkage(demo_run, dataset: str) -> dict[str, str]:
    """native PatientID → pseudonym, from the run's restricted linkage tables."""
    parts = sorted((demo_run[0] / "results/restricted/deid" / dataset).glob("*/linkage.parquet"))
    frame = pd.concat([pd.read_parquet(p) for p in parts])
    return dict(zip(frame.native_patient_id, frame.patient_id))


def test_demo_exams_are_what_the_native_tables_imply(demo_run):
    from breastcurate.sources.cbis_ddsm import read_descriptions

    raw = demo_run[0] / "results/restricted/raw"
    exams = _catalog(demo_run, "SELECT * FROM exams")
    images = _catalog(demo_run, "SELECT * FROM images WHERE variant = 'canonical'")
    # VinDr: one 4-view exam per study of breast-level_annotations.csv
    vindr = pd.read_csv(raw / "vindr_mammo/breast-level_annotations.csv")
    mine = exams[exams.dataset == "vindr_mammo"]
    assert len(mine) == vindr.study_id.nunique() and mine.complete_screening_views.all()
    # CBIS-DDSM: one exam per DDSM case, fewer exams than images, no prior at all (no dates), CC and MLO together
    cases = read_descriptions(raw / "cbis_ddsm")
    mine = exams[exams.dataset == "cbis_ddsm"]
    cbis = images[images.dataset == "cbis_ddsm"]
    assert len(mine) == cases.patient_id.nunique() < len(cbis)
    assert mine.prior_exam_id.isna().all() and cbis.groupby("breast_id").view.nunique().max() == 2
    # EMBED: one exam per acc_anon, priors with the native day gaps
    clinical = pd.read_csv(raw / "embed/tables/EMBED_OpenData_clinical.csv", dtype=str)
    per_exam = clinical.drop_duplicates("acc_anon").assign(day=lambda f: pd.to_datetime(f.study_date_anon))
    mine = exams[exams.dataset == "embed"]
    assert len(mine) == len(per_exam)
    gaps = sorted(int(d) for _, g in per_exam.groupby("empi_anon") for d in g.day.sort_values().diff().dt.days.dropna())
    assert gaps and sorted(mine.days_since_prior.dropna().astype(int)) == gaps
    # I-SPY1: two visits each, T0 the prior of T1
    mine = exams[exams.dataset == "ispy1"].set_index("exam_id")
    t1 = mine[mine.visit_label == "T1"]
    assert len(t1) == mine.patient_id.nunique() and (mine.loc[t1.prior_exam_id, "visit_label"] == "T0").all()
    # every image in one exam and one breast of it
    assert images.exam_id.notna().all() and (images.breast_id.str[:-2] == images.exam_id).all()


def test_every_demo_breast_has_its_sources_outcome(demo_run):
    from breastcurate.sources.cbis_ddsm import read_descriptions

    raw = demo_run[0] / "results/restricted/raw"
    breasts = _catalog(
        demo_run,
        "SELECT b.*, i.image_uid, i.study_uid FROM breasts b LEFT JOIN images i ON i.breast_id = b.breast_id "
        "AND i.variant = 'canonical'",
    )
    # CBIS-DDSM: the pathology of the case's abnormalities on that side
    link = _linkage(demo_run, "cbis_ddsm")
    cases = read_descriptions(raw / "cbis_ddsm")
    expected = {}
    for (case, side), group in cases.groupby(["patient_id", "left or right breast"]):
        values = set(group.pathology.str.strip())
        outcome = "malignant" if "MALIGNANT" in values else "benign"
        expected[(link[case], side.strip()[0])] = outcome
    mine = breasts[breasts.dataset == "cbis_ddsm"].drop_duplicates("breast_id")
    assert {(p, s): o for p, s, o in zip(mine.patient_id, mine.laterality, mine.outcome)} == expected
    # VinDr: BI-RADS only, 1 normal and 2 benign, the rest undecided
    vindr = pd.read_csv(raw / "vindr_mammo/breast-level_annotations.csv")
    by_study = {}
    for row in vindr.drop_duplicates(["study_id", "laterality"]).itertuples():
        by_study[(row.study_id, row.laterality)] = {"BI-RADS 1": "normal", "BI-RADS 2": "benign"}.get(row.breast_birads)
    mine = breasts[breasts.dataset == "vindr_mammo"].drop_duplicates("breast_id")
    got = sorted((s, o if isinstance(o, str) else "") for s, o in zip(mine.laterality, mine.outcome))
    assert got == sorted((lat, o or "") for (_, lat), o in by_study.items())
    # Duke: malignant on the Tumor Location side, undecided on the other
    from breastcurate.sources.duke import read_clinical

    duke = read_clinical(raw / "duke/Clinical_and_Other_Features.xlsx")
    link = _linkage(demo_run, "duke")
    mine = breasts[breasts.dataset == "duke"]
    sides = [loc if isinstance(loc, str) else pos[0] for loc, pos in zip(duke["Tumor Location"], duke["Position"])]
    assert any(not isinstance(loc, str) for loc in duke["Tumor Location"])  # the demo models the blank rows
    for native, side in zip(duke["Patient ID"], sides):
        if native in link:
            rows = mine[mine.patient_id == link[native]].set_index("laterality")
            assert rows.loc[side, "outcome"] == "malignant" and pd.isna(rows.loc["LR".replace(side, ""), "outcome"])


def test_the_exam_check_finds_orphan_images_and_bad_priors():
    from breastcurate.checks.semantic import exams_and_breasts

    exams_t = pd.DataFrame(
        {
            "exam_id": ["E1", "E2", "E3"],
            "patient_id": ["P-1", "P-1", "P-2"],
            "modality": "MG",
            "exam_day": [0, 0, 10],
            "prior_exam_id": [None, "E1", "E1"],
            "days_since_prior": [None, 0, 10],
        }
    )
    breasts = pd.DataFrame({"breast_id": ["E1-L", "E2-L"]})
    images = pd.DataFrame(
        {"image_uid": ["a", "b", "c"], "exam_id": ["E1", "E2", "E9"], "breast_id": ["E1-L", "E2-R", None]}
    )
    volumes = pd.DataFrame({"path": ["v.nii.gz"], "exam_id": ["E3"]})
    found = exams_and_breasts({"exams": exams_t, "breasts": breasts, "images": images, "volumes": volumes})
    problems = set(zip(found.table, found.key))
    assert problems == {("images", "c"), ("images", "b"), ("exams", "E2"), ("exams", "E3")}
    assert "0 days old" in found[found.key == "E2"].problem.iloc[0]
    assert "not an exam of this patient" in found[found.key == "E3"].problem.iloc[0]
    clean = exams_and_breasts(
        {"exams": exams_t.iloc[:1], "breasts": breasts, "images": images.iloc[:1], "volumes": volumes.iloc[:0]}
    )
    assert clean.empty
