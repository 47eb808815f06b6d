"""Split interop with MAMA-MIA and BreastDCEDL: their published split files (real formats) are mapped to native ids
in the restricted zone; a version with `align_with` keeps their test patients in our test; split and release cards
report the overlap, in pseudonyms only."""

from __future__ import annotations

import json
import re
import shutil
import stat

import pandas as pd
import pytest
import yaml
from breastcurate.errors import BreastcurateError
from breastcurate.splits.interop import PUBLISHED, read_breastdcedl, read_mama_mia, source_files
from conftest import REPO, demo_scope, run_cli

FIXTURES = REPO / "tests/data/published_splits"
#: native ids of the demo's MRI patients (and the id schemes of the two sets): none may reach the curated zone
NATIVE_ID = re.compile(r"Breast_MRI_\d|ISPY1_\d|ISPY2-\d|ACRIN-6698-\d|DUKE_\d|ISPY2_\d|NACT_\d", re.IGNORECASE)


def _linkage(results):
    return sorted(str(p) for p in (results / "restricted/deid").rglob("linkage.parquet"))


def _natives(results) -> dict[tuple[str, str], str]:
    """pseudonym → native id, from the restricted linkage tables (what the test checks the mapping against)."""
    frames = [pd.read_parquet(p) for p in _linkage(results)]
    linkage = pd.concat(frames).drop_duplicates(["dataset", "patient_id"])
    return {(d, p): n for d, p, n in zip(linkage.dataset, linkage.patient_id, linkage.native_patient_id)}


def test_demo_run_aligns_v2_with_the_shipped_breastdcedl_split(demo_run):
    """The default config's v2 keeps BreastDCEDL's test patients in test, and differs from v1 (same salt) only where
    the alignment pins someone; the mapping stays restricted; the curated cards hold pseudonyms only."""
    work, _, _ = demo_run
    results = work / "results"
    external = results / "restricted/external_splits.parquet"
    assert stat.S_IMODE(external.stat().st_mode) & 0o077 == 0
    shipped = pd.read_csv(PUBLISHED / "breastdcedl.csv", dtype=str)
    theirs = dict(zip(shipped.pid, shipped.test.map({"0.0": "train", "1.0": "test", "2.0": "val"})))
    natives = _natives(results)
    v1 = pd.read_parquet(results / "curated/splits/v1.parquet").set_index(["dataset", "patient_id"])
    v2 = pd.read_parquet(results / "curated/splits/v2.parquet").set_index(["dataset", "patient_id"])
    expected = {key: theirs.get(natives[key]) for key in v2.index}
    assert {k: v for k, v in expected.items() if v} == v2.aligned_split.dropna().to_dict()
    assert any(expected.values())  # the demo's Duke and I-SPY1 ids are in BreastDCEDL's list
    for key, side in expected.items():
        if side == "test":
            assert v2.split[key] == "test"
        elif side:
            assert v2.split[key] != "test"
        else:
            assert v2.split[key] == v1.split[key]
    card = json.loads((results / "curated/splits/v2.json").read_text())["published_splits"]["breastdcedl"]
    assert card["aligned"] and card["ids"]["matched"] == sum(1 for v in expected.values() if v)
    assert card["their_train_or_val_in_our_test"] == 0 and card["their_test_in_our_train_or_val"] == 0
    v1_card = json.loads((results / "curated/splits/v1.json").read_text())["published_splits"]["breastdcedl"]
    assert not v1_card["aligned"] and v1_card["listed"] == len(shipped)
    for path in (results / "curated/splits").iterdir():
        assert not NATIVE_ID.search(path.read_bytes().decode("latin-1")), path


@pytest.fixture()
def copied(demo_run, tmp_path):
    """A private copy of the demo results with the linkage tables (align-splits reads them)."""
    work, _, _ = demo_run
    target = tmp_path / "results"
    shutil.copytree(work / "results", target, ignore=shutil.ignore_patterns("raw", "dicom"))
    return target


def _versions(tmp_path, **external) -> str:
    data = yaml.safe_load((REPO / "config/splits.yaml").read_text())
    data["external_splits"] = external
    data["versions"]["both"] = {**data["versions"]["v1"], "align_with": ["mama_mia", "breastdcedl"]}
    path = tmp_path / "splits.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_fixture_splits_of_both_sets_are_aligned_and_reported(copied, tmp_path):
    """Fixtures in the real formats name the demo's patients: MAMA-MIA's test (one through its ISPY2_ id of an
    ACRIN-6698 patient) and BreastDCEDL's test end in our test, a conflict between the two is reported, ids of
    cohorts we do not curate or patients we do not have are counted; the release card carries the overlap."""
    versions = _versions(
        tmp_path,
        mama_mia=str(FIXTURES / "train_test_splits.csv"),
        breastdcedl=str(FIXTURES / "BreastDCEDL_metadata.csv"),
    )
    external = copied / "restricted/external_splits.parquet"
    out = run_cli("align-splits", "--versions", versions, "--out", str(external), *_linkage(copied))
    assert "mama_mia: 8 listed" in out.stdout and "breastdcedl: 6 listed" in out.stdout
    mapped = pd.read_parquet(external).set_index(["source", "source_id"])
    assert mapped.status[("mama_mia", "NACT_07")] == "cohort_not_curated"
    assert mapped.status[("mama_mia", "DUKE_999")] == "not_in_catalog"
    assert mapped.native_patient_id[("mama_mia", "ISPY2_100138")] == "ACRIN-6698-100138"
    assert mapped.status[("breastdcedl", "Breast_MRI_004")] == "not_in_catalog"
    assert ("breastdcedl", "ISPY2-100101") not in mapped.index  # empty test code: in no split

    run_cli("splits", "--results", str(copied), *demo_scope(), "--versions", versions, "--external", str(external))
    splits = pd.read_parquet(copied / "curated/splits/both.parquet")
    natives = _natives(copied)
    side = {natives[(d, p)]: s for d, p, s in zip(splits.dataset, splits.patient_id, splits.split)}
    assert side["Breast_MRI_001"] == side["ISPY1_1001"] == side["ACRIN-6698-100138"] == "test"
    assert "test" not in {side["Breast_MRI_002"], side["ISPY1_1002"], side["ISPY2-100101"]}
    card = json.loads((copied / "curated/splits/both.json").read_text())["published_splits"]
    assert card["mama_mia"]["ids"] == {"cohort_not_curated": 1, "matched": 6, "not_in_catalog": 1}
    assert card["breastdcedl"]["ids"] == {"matched": 5, "not_in_catalog": 1}
    assert card["mama_mia"]["overlap"]["test"]["test"] == 2 and card["breastdcedl"]["overlap"]["test"]["test"] == 1
    # the two sets disagree: Breast_MRI_001 is MAMA-MIA train, BreastDCEDL test; ISPY1_1001 and the ACRIN patient
    # are MAMA-MIA test, BreastDCEDL val and train
    assert card["mama_mia"]["their_train_or_val_in_our_test"] == 1
    assert card["breastdcedl"]["their_train_or_val_in_our_test"] == 2
    assert all(c["their_test_in_our_train_or_val"] == 0 for c in card.values())

    run_cli("release", "both", "--results", str(copied), "--config", str(REPO / "config/config.yaml"),
            "--versions", versions)  # fmt: skip
    release = copied / "releases/both"
    meta = json.loads((release / "release.json").read_text())
    assert meta["published_splits"] == card
    readme = (release / "README.md").read_text()
    assert "MAMA-MIA (Garrucho et al., Sci Data 2025) (CC BY-NC 4.0) — aligned" in readme
    dcedl = readme.split("### BreastDCEDL")[1].split("### MAMA-MIA")[0]
    mama = readme.split("### MAMA-MIA")[1].split("## Patients")[0]
    assert "| test | 1 | 1 | 1 |" in dcedl and "| test | 1 | 0 | 2 |" in mama  # ours \ theirs: train, val, test
    for name in ("README.md", "release.json", "splits.parquet", "croissant.json"):
        assert not NATIVE_ID.search((release / name).read_bytes().decode("latin-1")), name


def test_a_version_aligned_with_a_set_whose_file_is_missing_stops_with_a_clear_error(copied, tmp_path):
    versions = _versions(tmp_path)  # no MAMA-MIA file: only BreastDCEDL's shipped copy is at hand
    external = copied / "restricted/external_splits.parquet"
    run_cli("align-splits", "--versions", versions, "--out", str(external), *_linkage(copied))
    failed = run_cli("splits", "--results", str(copied), *demo_scope(), "--versions", versions, "--external", str(external),
                     check=False)  # fmt: skip
    assert failed.returncode == 1
    assert "aligns with mama_mia" in failed.stderr and "syn60868042" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_readers_take_the_real_formats_and_refuse_bad_files(tmp_path):
    mama = read_mama_mia(FIXTURES / "train_test_splits.csv")
    assert sorted(mama.source_split.value_counts().items()) == [("test", 3), ("train", 5)]
    assert set(mama.cohort) == {"DUKE", "ISPY1", "ISPY2", "NACT"}
    dcedl = read_breastdcedl(FIXTURES / "BreastDCEDL_metadata.csv")
    assert dict(zip(dcedl.source_id, dcedl.source_split))["ISPY1_1001"] == "val"
    shipped = read_breastdcedl(PUBLISHED / "breastdcedl.csv")
    assert set(shipped.source_split) == {"train", "val", "test"} and shipped.source_id.is_unique

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("patient,split\nDUKE_001,train\n")
    with pytest.raises(BreastcurateError, match="missing column"):
        read_mama_mia(wrong)
    codes = tmp_path / "codes.csv"
    codes.write_text("pid,test\nBreast_MRI_001,3.0\n")
    with pytest.raises(BreastcurateError, match="unknown split codes"):
        read_breastdcedl(codes)
    with pytest.raises(BreastcurateError, match="does not exist"):
        source_files({"mama_mia": str(tmp_path / "absent.csv")})
    with pytest.raises(BreastcurateError, match="unknown set"):
        source_files({"other_set": None})


def test_an_id_in_two_splits_of_one_file_is_refused(copied, tmp_path):
    twice = tmp_path / "twice.csv"
    twice.write_text("train_split,test_split\nDUKE_001,DUKE_001\n")
    versions = _versions(tmp_path, mama_mia=str(twice))
    failed = run_cli("align-splits", "--versions", versions, "--out", str(tmp_path / "x.parquet"),
                     *_linkage(copied), check=False)  # fmt: skip
    assert failed.returncode == 1 and "listed in two splits: DUKE_001" in failed.stderr
    assert not (tmp_path / "x.parquet").exists()
