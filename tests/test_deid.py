"""De-identification (PS3.15 Annex E) through `breastcurate deidentify` and `breastcurate scan-phi`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from breastcurate.convert.masks import _referenced
from breastcurate.deid.keys import Keyed
from conftest import REPO, run_cli

pytestmark = (
    pytest.mark.e2e
)  # the `deidentify` command in subprocesses (the stage itself: test_fuzz_dicom, test_bug_fails_job)

DATA = REPO / "tests" / "data" / "deid"
KEY = b"test-key-0123456789abcdef-test-key"
BASIC_ONLY = [
    "--no-option",
    "retain_longitudinal_modified_dates",
    "--no-option",
    "retain_patient_characteristics",
    "--no-option",
    "clean_descriptors",
    "--no-option",
    "retain_safe_private",
]


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("key") / "key"
    path.write_bytes(KEY)
    return path


def deidentify(src: Path, out: Path, key_file: Path, *extra: str) -> Path:
    restricted = out.parent / (out.name + "-restricted")
    run_cli("deidentify", str(src), str(out), "--secret-file", str(key_file), "--restricted", str(restricted), *extra)
    return restricted


def by_original_sop(src: Path, out: Path, key: bytes = KEY) -> dict[Path, Path]:
    """Input file → output file, matched through the keyed UID mapping (inputs that share a SOP Instance UID with
    another input are left out: their outputs cannot be told apart)."""
    outputs = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p for p in out.rglob("*.dcm")}
    uids = {
        p: str(pydicom.dcmread(p, stop_before_pixels=True, force=True).get("SOPInstanceUID", ""))
        for p in src.rglob("*.dcm")
    }
    shared = {u for u in uids.values() if list(uids.values()).count(u) > 1}
    return {p: outputs[Keyed(key).uid(u)] for p, u in uids.items() if u not in shared and Keyed(key).uid(u) in outputs}


@pytest.fixture(scope="module")
def basic_run(tmp_path_factory, key_file):
    out = tmp_path_factory.mktemp("basic") / "out"
    restricted = deidentify(DATA, out, key_file, *BASIC_ONLY)
    return out, restricted


#: What each action of PS3.15 Table E.1-1 leaves in the output (compound actions resolved as docs/deidentification.md says).
OBSERVED = {
    "X": "removed",
    "Z": "empty",
    "X/Z": "empty",
    "Z/D": "empty",
    "X/Z/D": "empty",
    "D": "dummy",
    "X/D": "dummy",
    "U": "remapped",
    "X/Z/U*": "remapped",
    "K": "kept",
}


#: Documented deviations (docs/deidentification.md): these become keyed pseudonyms, a dummy value, not empty.
PSEUDONYMS = {"PatientID": "dummy", "PatientName": "dummy", "AccessionNumber": "dummy"}


def _observed(original: str, elem, key: bytes) -> str:
    """Which action an element's output shows: removed, empty, kept, remapped (the keyed UID), or dummy."""
    if elem is None:
        return "removed"
    value = elem.value
    if value is None or (hasattr(value, "__len__") and len(value) == 0):
        return "empty"
    if str(value) == str(original):
        return "kept"
    if elem.VR == "UI" and str(value) == Keyed(key).uid(str(original)):
        return "remapped"
    return "dummy"


def _expected_pairs(out: Path):
    expected = json.loads((DATA / "expected_actions.json").read_text())["files"]
    pairs = {str(k.relative_to(DATA)): v for k, v in by_original_sop(DATA, out).items()}
    local = {
        "inputs_synthetic_phi/dicognito/": "dicognito/",
        "inputs_synthetic_phi/deid-data/": "deid-data/",
        "inputs_already_deidentified/dcm_qa_deident/": "already_deidentified/",
    }
    for name, spec in expected.items():
        rel = next((name.replace(a, b) for a, b in local.items() if name.startswith(a)), name)
        if rel in pairs:  # else quarantined (burned-in) or not copied
            yield rel, spec, pydicom.dcmread(pairs[rel])


def test_each_annex_e_action_is_told_apart_basic_profile(basic_run):
    """For every attribute the standard's table names in the shared inputs, the output shows exactly its action:
    X removed, Z zero-length, D a dummy, U the keyed UID; private elements removed (no safe-private option)."""
    out, _ = basic_run
    seen = {}
    for rel, spec, ds in _expected_pairs(out):
        for attr in spec["attributes"]:
            action = attr["basicProfile"].split(" ")[0]
            if action not in OBSERVED or attr.get("value") in (None, ""):
                continue  # an empty input cannot show which action ran
            group, element = (int(x, 16) for x in attr["tag"].strip("()").split(","))
            observed = _observed(attr.get("value"), ds.get((group, element)), KEY)
            wanted = PSEUDONYMS.get(attr["keyword"], OBSERVED[action])
            assert observed == wanted, f"{rel}: {attr['keyword']} ({action}) came out {observed}"
            seen[action] = seen.get(action, 0) + 1
        assert not [e for e in ds if e.tag.is_private], f"{rel}: private elements left"
        assert ds.PatientIdentityRemoved == "YES"
    assert {OBSERVED[a] for a in seen} == {"removed", "empty", "dummy", "remapped"} and sum(seen.values()) > 100, seen


def test_options_keep_and_clean(key_file, tmp_path):
    """With the default options: K (Retain Patient Characteristics keeps PatientSex), C (Retain Longitudinal
    Temporal Information with Modified Dates cleans StudyDate into another valid date)."""
    out = tmp_path / "out"
    deidentify(DATA / "dicognito", out, key_file)
    kept = cleaned = 0
    for rel, spec, ds in _expected_pairs(out):
        for attr in spec["attributes"]:
            group, element = (int(x, 16) for x in attr["tag"].strip("()").split(","))
            elem, original = ds.get((group, element)), attr.get("value")
            if attr["keyword"] == "PatientSex" and original:
                assert _observed(original, elem, KEY) == "kept", rel
                kept += 1
            if attr["keyword"] == "StudyDate" and original:
                value = str(elem.value)
                assert len(value) == 8 and value.isdigit() and value != str(original), rel
                cleaned += 1
    assert kept and cleaned


def test_burned_in_and_screen_captures_quarantined(basic_run):
    out, restricted = basic_run
    quarantine = pd.read_parquet(restricted / "quarantine.parquet")
    reasons = dict(zip(quarantine["path"], quarantine["reason"]))
    assert reasons["dicognito/test_burned_in_annotation_default/burned_in_yes.dcm"] == "BurnedInAnnotation is YES"
    assert reasons["deid-data/ultrasounds/GREYSCALE_IMAGE.dcm"]  # US with burned-in text
    assert "secondary capture" in reasons["deid-data/dicom-cookies/image1.dcm"]
    released = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in out.rglob("*.dcm")}
    for rel in reasons:
        original = pydicom.dcmread(DATA / rel, stop_before_pixels=True, force=True)
        assert Keyed(KEY).uid(original.SOPInstanceUID) not in released


def test_already_deidentified_keeps_upstream_method_codes(basic_run, key_file, tmp_path):
    out = tmp_path / "out"
    deidentify(DATA / "already_deidentified", out, key_file)
    ds = pydicom.dcmread(next(out.rglob("*.dcm")))
    before = pydicom.dcmread(DATA / "already_deidentified" / "00001.dcm")
    upstream = [(c.CodingSchemeDesignator, c.CodeValue) for c in before.DeidentificationMethodCodeSequence]
    after = [(c.CodingSchemeDesignator, c.CodeValue) for c in ds.DeidentificationMethodCodeSequence]
    assert after[: len(upstream)] == upstream
    assert {("DCM", "113100"), ("DCM", "113107"), ("DCM", "113108"), ("DCM", "113105")} <= set(after)
    assert len(after) == len(set(after))


def test_pixel_data_never_changes(basic_run):
    out, _ = basic_run
    pairs = by_original_sop(DATA, out)
    assert len(pairs) >= 5
    for src, dst in pairs.items():
        a, b = pydicom.dcmread(src, force=True), pydicom.dcmread(dst)
        if "PixelData" in a:
            assert a.PixelData == b.PixelData, src
            assert a.file_meta.TransferSyntaxUID == b.file_meta.TransferSyntaxUID


@pytest.fixture(scope="module")
def demo_deid(demo_root, tmp_path_factory, key_file):
    out = tmp_path_factory.mktemp("demo_deid") / "out"
    restricted = deidentify(demo_root, out, key_file)
    return out, restricted


def test_demo_deidentified_has_no_phi(demo_root, demo_deid, tmp_path):
    out, restricted = demo_deid
    clean = run_cli("scan-phi", "--raw", str(demo_root), str(out), "--workers", "2", check=False)
    assert clean.returncode == 0, clean.stdout
    assert "0 hit(s)" in clean.stdout
    # The scan does find PHI: a raw file (and a name in a file name) among outputs.
    leak = tmp_path / "leak"
    leak.mkdir()
    raw = next((demo_root / "duke").rglob("*.dcm"))
    shutil.copy(raw, leak / "copied.dcm")
    name = str(pydicom.dcmread(raw).PatientName).split("^")[0]
    (leak / f"notes-{name}.txt").write_text("nothing")
    dirty = run_cli("scan-phi", "--raw", str(demo_root / "duke"), str(leak), check=False)
    assert dirty.returncode == 1
    assert "copied.dcm" in dirty.stdout and "notes-" in dirty.stdout
    assert name not in dirty.stdout  # the report masks values


def test_outputs_hold_no_audit_or_linkage_and_restricted_is_private(demo_deid):
    out, restricted = demo_deid
    assert not [p for p in out.rglob("*") if p.suffix == ".parquet"]
    for name in ("audit.parquet", "linkage.parquet", "quarantine.parquet"):
        assert (restricted / name).stat().st_mode & 0o077 == 0
    linkage = pd.read_parquet(restricted / "linkage.parquet")
    assert linkage["patient_id"].str.fullmatch(r"P-[0-9a-f]{16}").all()
    audit = pd.read_parquet(restricted / "audit.parquet")
    assert set(audit.columns) == {"file", "element", "action"}
    assert "PatientName" in set(audit["element"]) and "ImageComments" in set(audit["element"])
    for native in linkage["native_patient_id"]:
        assert not [p for p in out.rglob("*") if native in p.as_posix()]


def test_intervals_kept_and_dates_shifted(demo_root, demo_deid):
    out, _ = demo_deid
    pairs = by_original_sop(demo_root / "ispy1", out)
    studies: dict[str, dict[str, tuple[str, str]]] = {}
    for src, dst in pairs.items():
        a, b = (pydicom.dcmread(p, stop_before_pixels=True) for p in (src, dst))
        studies.setdefault(b.PatientID, {})[b.StudyInstanceUID] = (a.StudyDate, b.StudyDate)
        if a.Modality == "MR":
            assert a.AcquisitionTime == b.AcquisitionTime  # DCE timing kept
    for visits in studies.values():
        assert len(visits) == 2
        (a0, b0), (a1, b1) = sorted(visits.values())
        day = lambda s: pd.Timestamp(s)  # noqa: E731
        assert day(a1) - day(a0) == day(b1) - day(b0)
        assert (day(a0) - day(b0)).days >= 7300


def test_seg_references_stay_consistent(demo_root, demo_deid):
    out, _ = demo_deid
    segs = [
        pydicom.dcmread(p) for p in out.rglob("*.dcm") if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SEG"
    ]
    assert segs
    for seg in segs:
        dce = [pydicom.dcmread(p, stop_before_pixels=True) for p in (out / seg.PatientID).rglob("*.dcm")]
        dce = [d for d in dce if d.Modality == "MR"]
        series, sops = _referenced(seg)  # I-SPY2's name series and frames; I-SPY1's list source images only
        assert sops and sops <= {d.SOPInstanceUID for d in dce}
        assert series <= {d.SeriesInstanceUID for d in dce}
        assert {d.FrameOfReferenceUID for d in dce if d.SOPInstanceUID in sops} == {seg.FrameOfReferenceUID}


def test_same_key_same_bytes_other_key_other_pseudonyms(demo_root, key_file, tmp_path):
    src = demo_root / "embed"
    deidentify(src, tmp_path / "a", key_file)
    deidentify(src, tmp_path / "b", key_file)
    other = tmp_path / "other.key"
    other.write_bytes(b"another-key-0123456789abcdef")
    deidentify(src, tmp_path / "c", other)
    files_a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*.dcm")}
    files_b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*.dcm")}
    assert files_a == files_b and files_a
    ids_a = {pydicom.dcmread(p).PatientID for p in (tmp_path / "a").rglob("*.dcm")}
    ids_c = {pydicom.dcmread(p).PatientID for p in (tmp_path / "c").rglob("*.dcm")}
    assert ids_a.isdisjoint(ids_c)


def test_descriptors_cleaned(demo_root, demo_deid):
    out, _ = demo_deid
    pairs = by_original_sop(demo_root / "duke", out)
    src, dst = next(iter(pairs.items()))
    a, b = pydicom.dcmread(src), pydicom.dcmread(dst)
    assert b.SeriesDescription == a.SeriesDescription  # a known protocol name is kept
    assert "ImageComments" not in b and "AdditionalPatientHistory" not in b  # free text with a name goes
    assert b.PatientAge == a.PatientAge and b.PatientSex == "F"  # Retain Patient Characteristics


def test_no_key_is_a_clear_error(tmp_path):
    proc = run_cli("deidentify", str(DATA / "already_deidentified"), str(tmp_path / "o"), check=False)
    assert proc.returncode == 1 and "no pseudonymization key" in proc.stderr


def test_a_copy_is_dropped_and_a_conflicting_twin_leaves_neither(key_file, tmp_path):
    """A byte-identical copy (`0032 (1).dcm`) is a `duplicate of` reject and the instance stays; two inputs with one
    SOP Instance UID but other pixel data are both rejects and neither is written (which one is the instance cannot
    be known). Real GE MR slices (tests/data/convert)."""
    from conftest import call_cli

    series = REPO / "tests/data/convert/dcm_qa_ge_subset/In/SliceTimingMPh/2_fMRI_Multiphase_Des"
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(series / "0032.dcm", src / "0032.dcm")
    shutil.copy(series / "0032.dcm", src / "0032 (1).dcm")
    shutil.copy(series / "0039.dcm", src / "0039.dcm")
    twin = pydicom.dcmread(series / "0039.dcm")
    twin.PixelData = bytes(len(twin.PixelData))  # the same UIDs, other pixels
    twin.save_as(src / "0039-other.dcm")
    out, restricted = tmp_path / "out", tmp_path / "restricted"
    call_cli("deidentify", str(src), str(out), "--secret-file", str(key_file), "--restricted", str(restricted))
    rejects = pd.read_parquet(restricted / "rejects.parquet").set_index("path").reason
    assert rejects["0032 (1).dcm"].startswith("duplicate of sha256:")
    assert "0032.dcm" not in rejects
    for name in ("0039.dcm", "0039-other.dcm"):
        assert rejects[name].endswith("but other pixel data; neither is used"), rejects[name]
    written = {str(pydicom.dcmread(p).SOPInstanceUID) for p in out.rglob("*.dcm")}
    assert written == {Keyed(KEY).uid(str(pydicom.dcmread(series / "0032.dcm").SOPInstanceUID))}
    assert list(pd.read_parquet(restricted / "files.parquet").path) == ["0032.dcm"]
