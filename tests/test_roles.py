"""MRI series roles against the real series of Duke, I-SPY1, I-SPY2 and ACRIN-6698 as NCI Imaging Data Commons lists
them (the pinned idc-index-data package, read offline), and the rules' edge cases in-process."""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pytest
from breastcurate import idc
from breastcurate.roles import RoleRule, SeriesInfo, assign, assign_all
from breastcurate.sources import get_adapter

#: (IDC collection, adapter, least share of studies that yield a pre-contrast and ≥ 2 post-contrast phases).
COLLECTIONS = [
    ("duke_breast_cancer_mri", "duke", 0.95),
    ("ispy1", "ispy1", 0.78),
    ("ispy2", "ispy2", 0.99),
    ("acrin_6698", "ispy2", 0.97),
]


@pytest.fixture(scope="module")
def index():
    con = duckdb.connect()
    con.execute(f"CREATE VIEW idc AS SELECT * FROM read_parquet('{idc.index_path()}')")
    yield con
    con.close()


@pytest.mark.parametrize("collection, dataset, least", COLLECTIONS)
def test_roles_on_the_real_series(index, collection, dataset, least):
    series = idc.series_infos(collection)
    assert len(series) > 1000
    roles = assign_all(series, get_adapter(dataset).role_rules)
    studies = defaultdict(list)
    for s in series:
        studies[s.study_uid].append(s)
    enough = 0
    for study in studies.values():
        dce = [s for s in study if roles[s.series_uid].role == "dce"]
        maps = [s for s in study if roles[s.series_uid].role == "derived" and idc.MAP.search(s.description)]
        phases = idc.study_phases(dce, maps)
        enough += int(phases is not None and phases[0] >= 3)
    share = enough / len(studies)
    assert share >= least, f"{collection}: {share:.3f} of {len(studies)} studies yield pre + ≥ 2 post phases"
    # No map, subtraction, projection or SEG is ever a phase.
    wrong = [
        s.description
        for s in series
        if roles[s.series_uid].role == "dce" and (s.modality == "SEG" or idc.MAP.search(s.description))
    ]
    assert wrong == []
    assert all(roles[s.series_uid].reason for s in series)


def test_pinned_index_is_idc_v25(index):
    assert idc.index_version() == "25.0.5"
    assert (
        index.execute(
            "SELECT max(idc_version) FROM read_parquet(?)",
            [str(idc.index_path().with_name("version_metadata_index.parquet"))],
        ).fetchone()[0]
        == 25
    )


def _study(*descriptions: str, modality: str = "MR") -> list[SeriesInfo]:
    return [SeriesInfo(f"s{i}", "st", modality, d, i + 1) for i, d in enumerate(descriptions)]


def test_source_of_a_map_is_the_dce_and_the_map_is_not():
    roles = assign(_study("Penn-Lesion1/T1-3D", "Penn-Lesion1/T1-3D: SER", "Penn-Lesion1/T1-3D: PE2", "localizer"))
    assert [roles[f"s{i}"].role for i in range(4)] == ["dce", "derived", "derived", "other"]
    assert "source of the derived map" in roles["s0"].reason


def test_one_dce_group_per_study_the_others_are_named():
    rules = get_adapter("ispy2").role_rules
    roles = assign(
        _study(
            "ISPY2: Ax Vibrant PRE/POST",
            "ISPY2: VOLSER: uni-lateral cropped: original DCE",
            "ISPY2: VOLSER: uni-lateral cropped: SER",
        ),
        rules,
    )
    assert roles["s1"].role == "dce" and roles["s2"].role == "derived"
    assert roles["s0"].role == "other" and "uni-lateral cropped: original DCE" in roles["s0"].reason


def test_image_type_derived_and_modalities():
    study = [
        SeriesInfo("a", "st", "MR", "ax 3d", image_type=("DERIVED", "PRIMARY", "SUBTRACTION")),
        SeriesInfo("b", "st", "SEG", "ax dyn SER"),
        SeriesInfo("c", "st", "SR", "report"),
        SeriesInfo("d", "st", "MR", ""),
    ]
    roles = assign(study)
    assert [roles[k].role for k in "abcd"] == ["derived", "seg", "other", "other"]
    assert "ImageType" in roles["a"].reason and "no SeriesDescription" in roles["d"].reason


def test_dataset_rules_win_over_generic_ones():
    rules = (RoleRule(r"^ax t1\b", "t1", "non-fat-saturated T1"),)
    assert assign(_study("ax t1 tse"), rules)["s0"].role == "t1"  # generic rules would say T2 for TSE
    assert assign(_study("ax t1 tse"))["s0"].role == "t1"
    assert assign(_study("DWSSFSE Diffusion", "ADC: from S4"))["s1"].role == "adc"
