"""The series of a de-identification shard and their roles, decided from the raw headers before Clean Descriptors
blanks any description (restricted `series.parquet`; harmonization publishes it without the native values)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from ..roles import SeriesInfo, assign_all
from ..sources.base import DatasetAdapter


@dataclass
class _Series:
    native_study_uid: str
    study_uid: str
    patient_id: str
    modality: str
    description_native: str
    description: str | None
    series_number: int | None
    image_type: tuple[str, ...]
    instances: int = 0
    timepoints: set = field(default_factory=set)


class SeriesLog:
    """Per series of a shard: what the role rules need, seen once per file."""

    def __init__(self, adapter: DatasetAdapter):
        self.adapter = adapter
        self.series: dict[str, _Series] = {}
        self.native_uids: dict[str, str] = {}

    def add(self, raw: dict, deid: Dataset, patient_id: str) -> None:
        """`raw`: the values `raw_series_values` took from the file before de-identification; `deid` the result."""
        uid = str(deid.get("SeriesInstanceUID", ""))
        if not uid:
            return
        entry = self.series.get(uid)
        if entry is None:
            description = deid.get("SeriesDescription")
            entry = self.series[uid] = _Series(
                native_study_uid=raw["study_uid"],
                study_uid=str(deid.get("StudyInstanceUID", "")),
                patient_id=patient_id,
                modality=raw["modality"],
                description_native=raw["description"],
                description=" ".join(str(description).split()) if description not in (None, "") else None,
                series_number=raw["series_number"],
                image_type=raw["image_type"],
            )
            self.native_uids[uid] = raw["series_uid"]
        entry.instances += 1
        if raw["temporal_position"] is not None:
            entry.timepoints.add(raw["temporal_position"])

    def rows(self, dataset: str) -> list[dict]:
        """One row per series with its role and the reason (lesion masks flagged)."""
        infos = [
            SeriesInfo(uid, s.study_uid, s.modality, s.description_native, s.series_number, s.image_type, s.instances)
            for uid, s in self.series.items()
        ]
        roles = assign_all(infos, self.adapter.role_rules)
        lesion = [re.compile(p, re.IGNORECASE) for p in self.adapter.lesion_masks]
        out = []
        for uid, s in sorted(self.series.items()):
            role = roles[uid]
            is_lesion = role.role == "seg" and any(p.search(" ".join(s.description_native.split())) for p in lesion)
            out.append(
                {
                    "dataset": dataset,
                    "patient_id": s.patient_id,
                    "study_uid": s.study_uid,
                    "series_uid": uid,
                    "native_series_uid": self.native_uids[uid],
                    "modality": s.modality,
                    "series_number": s.series_number,
                    "description_native": s.description_native or None,
                    "description": s.description,
                    "role": role.role,
                    "role_reason": role.reason,
                    "lesion_mask": is_lesion,
                    "n_instances": s.instances,
                    "n_timepoints": max(len(s.timepoints), 1),
                }
            )
        return out


def raw_series_values(ds: Dataset) -> dict:
    """The values of a raw file the series log needs (read before de-identification changes them)."""
    number = ds.get("SeriesNumber")
    position = ds.get("TemporalPositionIdentifier")
    return {
        "series_uid": str(ds.get("SeriesInstanceUID", "")),
        "study_uid": str(ds.get("StudyInstanceUID", "")),
        "modality": str(ds.get("Modality", "") or ""),
        "description": " ".join(str(ds.get("SeriesDescription", "") or "").split()),
        "series_number": _int(number),
        "temporal_position": _int(position),
        "image_type": tuple(str(v) for v in (ds.get("ImageType") or [])),
    }


def _int(value) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None
