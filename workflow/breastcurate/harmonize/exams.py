"""Exams and breasts of one shard: the views of one exam grouped by the source's own notion of an exam, each exam's
prior, and one row per exam and breast with a uniform outcome (docs/sources/exams.md)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..deid.keys import Keyed

SCREENING_VIEWS = ("L-CC", "L-MLO", "R-CC", "R-MLO")
#: How strong a piece of evidence is, and how severe an outcome: a breast takes the strongest, then the most severe.
EVIDENCE_RANK = {"pathology": 3, "follow_up": 2, "assessment": 1}
OUTCOME_RANK = {"malignant": 3, "benign": 2, "normal": 1}
SIDES = ("L", "R")


@dataclass(frozen=True)
class ShardExams:
    """A shard's exams and breasts, and its images and volumes with their `exam_id` and `breast_id`."""

    exams: pd.DataFrame
    breasts: pd.DataFrame
    images: pd.DataFrame
    volumes: pd.DataFrame


def build(
    dataset: str,
    keyed: Keyed,
    images: pd.DataFrame,
    volumes: pd.DataFrame,
    studies: pd.DataFrame,
    tumor_sides: dict[str, tuple[str | None, str | None]],
    visit_label: str | None,
) -> ShardExams:
    """Group the shard's canonical mammograms by their exam key (`exam_native` from the adapter's labels, else the
    study) and its MRI studies one visit each; then number each patient's exams, find their priors and make the
    breasts. `tumor_sides`: patient_id → (L, R or B, the native value) of the MRI cohorts' cancer."""
    dates = dict(zip(studies.study_uid, pd.to_datetime(studies.study_date, errors="coerce"))) if len(studies) else {}
    n_phases = dict(zip(studies.study_uid, studies.n_phases)) if len(studies) else {}
    members = []  # (exam_id, patient_id, modality, study_uid)
    if len(images):
        native = images["exam_native"] if "exam_native" in images else pd.Series(None, index=images.index)
        keys = ["exam:" + str(n) if isinstance(n, str) else "study:" + s for n, s in zip(native, images.study_uid)]
        images = images.assign(
            exam_id=[keyed.exam(dataset, p, k) for p, k in zip(images.patient_id, keys)],
        )
        images["breast_id"] = [
            f"{e}-{lat}" if lat in SIDES else None for e, lat in zip(images.exam_id, images.laterality)
        ]
        members += list(zip(images.exam_id, images.patient_id, ["MG"] * len(images), images.study_uid))
    if len(volumes):
        volumes = volumes.assign(
            exam_id=[keyed.exam(dataset, p, "study:" + s) for p, s in zip(volumes.patient_id, volumes.study_uid)],
            breast_id=None,
        )
        members += list(zip(volumes.exam_id, volumes.patient_id, ["MR"] * len(volumes), volumes.study_uid))
    exams = _exams(members, images, dates, n_phases, visit_label)
    breasts = _breasts(exams, images, tumor_sides)
    return ShardExams(exams, breasts, images, volumes)


def _exams(members: list, images: pd.DataFrame, dates: dict, n_phases: dict, visit_label: str | None) -> pd.DataFrame:
    columns = ["patient_id", "exam_id", "modality", "exam_day", "visit", "visit_label", "prior_exam_id"]
    columns += ["days_since_prior", "views", "complete_screening_views", "n_images", "n_phases"]
    if not members:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(members, columns=["exam_id", "patient_id", "modality", "study_uid"]).drop_duplicates()
    per_exam = frame.groupby("exam_id", sort=True).agg(
        patient_id=("patient_id", "first"),
        modality=("modality", "first"),
        date=("study_uid", lambda s: min((dates[u] for u in s if pd.notna(dates.get(u))), default=pd.NaT)),
        n_phases=("study_uid", lambda s: int(sum(n_phases.get(u, 0) for u in set(s)))),
    )
    canonical = images[images.variant == "canonical"] if len(images) else images
    views, counts = {}, {}
    if len(canonical):
        counts = canonical.groupby("exam_id").size().to_dict()
        plain = canonical[(canonical.image_type == "2d") & canonical.laterality.isin(SIDES) & canonical.view.notna()]
        views = plain.groupby("exam_id").apply(lambda g: sorted(set(g.laterality + "-" + g.view))).to_dict()
    rows = []
    for patient, group in per_exam.reset_index().groupby("patient_id", sort=True):
        first_day = group.date.min()
        for modality, exams in group.groupby("modality", sort=True):
            ordered = exams.sort_values(["date", "exam_id"], na_position="last", kind="stable")
            dated: list[tuple[pd.Timestamp, str]] = []
            for visit, row in enumerate(ordered.itertuples(index=False)):
                prior = None
                if pd.notna(row.date):
                    earlier = [(d, e) for d, e in dated if d < row.date]
                    prior = max(earlier) if earlier else None
                    dated.append((row.date, row.exam_id))
                listed: list[str] = views.get(row.exam_id) or []
                rows.append(
                    {
                        "patient_id": patient,
                        "exam_id": row.exam_id,
                        "modality": modality,
                        "exam_day": None if pd.isna(row.date) else int((row.date - first_day).days),
                        "visit": visit,
                        "visit_label": visit_label.format(visit=visit) if visit_label else None,
                        "prior_exam_id": prior[1] if prior else None,
                        "days_since_prior": int((row.date - prior[0]).days) if prior else None,
                        "views": ",".join(listed) if listed else None,
                        "complete_screening_views": bool(listed) and set(SCREENING_VIEWS) <= set(listed),
                        "n_images": int(counts.get(row.exam_id, 0)),
                        "n_phases": int(row.n_phases) if modality == "MR" else 0,
                    }
                )
    return pd.DataFrame(rows, columns=columns)


def _strongest(group: pd.DataFrame) -> pd.Series:
    """The breast's outcome: the strongest evidence among its images, then the most severe outcome."""
    known = group[group.outcome.notna()]
    if known.empty:
        return pd.Series({"outcome": None, "outcome_evidence": None, "outcome_native": None})
    rank = known.outcome_evidence.map(EVIDENCE_RANK).fillna(0) * 10 + known.outcome.map(OUTCOME_RANK)
    best = known.loc[rank.idxmax()]
    return pd.Series(
        {"outcome": best.outcome, "outcome_evidence": best.outcome_evidence, "outcome_native": best.outcome_native}
    )


def _breasts(exams: pd.DataFrame, images: pd.DataFrame, tumor_sides: dict) -> pd.DataFrame:
    columns = ["patient_id", "breast_id", "exam_id", "laterality", "birads", "density"]
    columns += ["outcome", "outcome_evidence", "outcome_native", "n_images"]
    rows: list[dict] = []
    canonical = images[(images.variant == "canonical") & images.breast_id.notna()] if len(images) else images
    if len(canonical):
        for column in ("outcome", "outcome_evidence", "outcome_native", "birads", "density"):
            if column not in canonical:
                canonical = canonical.assign(**{column: None})
        for (breast, exam, side), group in canonical.groupby(["breast_id", "exam_id", "laterality"], sort=True):
            birads = group.birads.dropna()
            density = group.density.dropna()
            rows.append(
                {
                    "patient_id": group.patient_id.iloc[0],
                    "breast_id": breast,
                    "exam_id": exam,
                    "laterality": side,
                    "birads": int(birads.max()) if len(birads) else None,
                    "density": density.mode().iloc[0] if len(density) else None,
                    **_strongest(group).to_dict(),
                    "n_images": len(group),
                }
            )
    for exam in exams[exams.modality == "MR"].itertuples(index=False):
        side, native = tumor_sides.get(exam.patient_id, (None, None))
        for laterality in SIDES:
            malignant = side in (laterality, "B")
            rows.append(
                {
                    "patient_id": exam.patient_id,
                    "breast_id": f"{exam.exam_id}-{laterality}",
                    "exam_id": exam.exam_id,
                    "laterality": laterality,
                    "birads": None,
                    "density": None,
                    "outcome": "malignant" if malignant else None,
                    "outcome_evidence": "pathology" if malignant else None,
                    "outcome_native": native if malignant else None,
                    "n_images": 0,
                }
            )
    return pd.DataFrame(rows, columns=columns)
