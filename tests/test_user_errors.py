"""A user's mistake gets a short message that names the problem, and a non-zero exit: through the CLI and Snakemake,
a table of common mistakes, each with no traceback and at most a few lines naming the offending key, value or path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_cli, snakemake, write_config

MAX_LINES = 5


def assert_short_error(proc: subprocess.CompletedProcess, *names: str) -> None:
    """Non-zero exit, no traceback, at most MAX_LINES lines, each of `names` in them."""
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    lines = out.splitlines()
    assert len(lines) <= MAX_LINES, f"{len(lines)} lines:\n{out[:3000]}"
    for name in names:
        assert name in out, (name, out)


def _config(tmp: Path, text: str) -> str:
    path = tmp / "c.yaml"
    path.write_text(text)
    return str(path)


def _folder(tmp: Path, name: str, files: dict[str, bytes] | None = None) -> str:
    folder = tmp / name
    folder.mkdir()
    for rel, data in (files or {}).items():
        (folder / rel).write_bytes(data)
    return str(folder)


DEMO = "datasets:\n  duke: {source: demo}\n"
#: (what the user got wrong, argv built in a temporary folder, the names the message must hold)
CLI_MISTAKES: list[tuple[str, Callable[[Path], list[str]], list[str]]] = [
    ("check-config of a missing file", lambda t: ["check-config", str(t / "nope.yaml")], ["nope.yaml"]),
    ("check-config of bad YAML", lambda t: ["check-config", _config(t, "a: [\n")], ["c.yaml", "line 2"]),
    ("check-config of a list", lambda t: ["check-config", _config(t, "- 1\n")], ["c.yaml", "mapping"]),
    ("a misspelled key", lambda t: ["check-config", _config(t, "n_shard: 2\n" + DEMO)], ["n_shard", "'n_shards'"]),
    ("a value out of range", lambda t: ["check-config", _config(t, "n_shards: 0\n" + DEMO)], ["n_shards", "minimum"]),
    (
        "an unknown source",
        lambda t: ["check-config", _config(t, "datasets:\n  duke: {source: ftp}\n")],
        ["datasets.duke.source", "ftp", "demo, local, download"],
    ),
    (
        "an unknown dataset in the config",
        lambda t: ["check-config", _config(t, "datasets:\n  mias: {source: demo}\n")],
        ["mias", "vindr_mammo"],
    ),
    (
        "a missing key file",
        lambda t: ["check-config", _config(t, f"deid: {{secret_file: {t}/no.key}}\n" + DEMO)],
        ["no.key"],
    ),
    (
        "a key file that is a folder",
        lambda t: ["check-config", _config(t, f"deid: {{secret_file: {_folder(t, 'k')}}}\n" + DEMO)],
        ["/k ", "is not a file"],
    ),
    (
        "real data without a key",
        lambda t: ["check-config", _config(t, f"datasets:\n  duke: {{source: local, path: {_folder(t, 'm')}}}\n")],
        ["needs a key", "secret_file"],
    ),
    (
        "a missing local mirror",
        lambda t: [
            "check-config",
            _config(t, f"deid: {{secret_file: {_key(t)}}}\ndatasets:\n  duke: {{source: local, path: {t}/gone}}\n"),
        ],
        ["datasets.duke.path", "gone"],
    ),
    (
        "a missing IDC index",
        lambda t: [
            "check-config",
            _config(
                t,
                f"deid: {{secret_file: {_key(t)}}}\ndatasets:\n  duke: {{source: download, download: "
                f"{{transport: idc, index: {t}/index.parquet}}}}\n",
            ),
        ],
        ["datasets.duke.download.index", "index.parquet"],
    ),
    (
        "a missing radiomics parameter file",
        lambda t: ["check-config", _config(t, f"radiomics: {{params_mr: {t}/mr.yaml}}\n" + DEMO)],
        ["radiomics.params_mr", "mr.yaml"],
    ),
    (
        "a missing split versions file",
        lambda t: ["check-config", _config(t, f"splits_file: {t}/s.yaml\n" + DEMO)],
        ["s.yaml"],
    ),
    (
        "a split version with bad ratios",
        lambda t: [
            "check-config",
            _config(t, f"splits_file: {_splits(t, 0.5)}\n" + DEMO),
        ],
        ["ratios"],
    ),
    ("plan-download with a missing config", lambda t: ["plan-download", "duke", "--config", f"{t}/c.yaml"], ["c.yaml"]),
    ("download of an unconfigured dataset", lambda t: ["download", "dukee"], ["dukee"]),
    ("demo-data of an unknown dataset", lambda t: ["demo-data", "--out", str(t), "--dataset", "nosuch"], ["nosuch"]),
    (
        "pull from a missing folder",
        lambda t: ["pull", "--from", f"{t}/gone", "--version", "v1", "--to", str(t)],
        ["gone"],
    ),
    (
        "pull of an unknown split",
        lambda t: ["pull", "--from", str(t), "--version", "v1", "--split", "trian", "--to", str(t)],
        ["trian", "'train', 'val', 'test'"],
    ),
    (
        "publish of a release never built",
        lambda t: ["publish", "v7", "--results", str(t), "--to", f"{t}/pub"],
        ["v7", "breastcurate release v7"],
    ),
    ("diff-release of a missing release", lambda t: ["diff-release", f"{t}/a", f"{t}/b"], ["/a"]),
    ("release of unbuilt results", lambda t: ["release", "v1", "--results", f"{t}/gone"], ["gone"]),
    ("release with a missing config", lambda t: ["release", "v1", "--config", f"{t}/c.yaml"], ["c.yaml"]),
    ("scan-phi of a missing raw folder", lambda t: ["scan-phi", "--raw", f"{t}/raw", _folder(t, "cur")], ["raw"]),
    (
        "scan-phi with no PHI values to look for",
        lambda t: ["scan-phi", "--raw", _folder(t, "raw", {"a.txt": b"x"}), _folder(t, "cur", {"b.png": b"y"})],
        ["no PHI values", "raw"],
    ),
    (
        "scan-phi of an empty curated folder",
        lambda t: ["scan-phi", "--raw", _raw_dicom(t), _folder(t, "cur")],
        ["cur", "no files"],
    ),
    ("deidentify of a missing folder", lambda t: ["deidentify", f"{t}/in", f"{t}/out", "--demo-key"], ["in"]),
    ("deidentify of an empty folder", lambda t: ["deidentify", _folder(t, "in"), f"{t}/out", "--demo-key"], ["in"]),
    (
        "deidentify of files that are not DICOM",
        lambda t: ["deidentify", _folder(t, "in", {"a.txt": b"x"}), f"{t}/out", "--demo-key"],
        ["could be de-identified", "out-restricted"],
    ),
    (
        "deidentify with a missing key file",
        lambda t: ["deidentify", _folder(t, "in"), f"{t}/out", "--secret-file", f"{t}/no.key"],
        ["no.key"],
    ),
    ("to-png of a missing file", lambda t: ["to-png", f"{t}/a.dcm", "--out", str(t)], ["a.dcm"]),
    ("to-nifti of a missing folder", lambda t: ["to-nifti", f"{t}/study", "--out", str(t)], ["study"]),
    (
        "inventory of a missing mirror",
        lambda t: ["inventory", "duke", f"{t}/m", "--n-shards", "2"],
        ["/m", "breastcurate inventory duke: error:"],
    ),
    (
        "radiomics of a missing image",
        lambda t: ["radiomics", f"{t}/i.nii", f"{t}/m.nii", "--params", "p", "--out", "o"],
        ["i.nii"],
    ),
    ("query of a missing catalog", lambda t: ["query", "select 1", "--catalog", f"{t}/c.duckdb"], ["c.duckdb"]),
]


def _key(tmp: Path) -> str:
    key = tmp / "secret.key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    return str(key)


def _splits(tmp: Path, train: float) -> str:
    path = tmp / "splits.yaml"
    path.write_text(
        yaml.safe_dump({"versions": {"v1": {"salt": "s", "ratios": {"train": train, "val": 0.1, "test": 0.1}}}})
    )
    return str(path)


def _raw_dicom(tmp: Path) -> str:
    """A folder holding one DICOM file with a patient name (a PHI value to scan for)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"  # digital mammography
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.PatientName, ds.PatientID = "Doe^Janet", "MRN-12345678"
    folder = tmp / "rawdcm"
    folder.mkdir()
    ds.save_as(folder / "a.dcm", enforce_file_format=True)
    return str(folder)


def test_the_table_is_long_enough():
    assert len(CLI_MISTAKES) >= 20


@pytest.mark.parametrize("args, names", [(a, n) for _, a, n in CLI_MISTAKES], ids=[m[0] for m in CLI_MISTAKES])
def test_cli_mistake_gets_a_short_message(tmp_path, monkeypatch, args, names):
    monkeypatch.delenv("BREASTCURATE_SECRET", raising=False)
    monkeypatch.chdir(REPO)  # the default config/config.yaml, as from a checkout
    argv = args(tmp_path)
    assert_short_error(run_cli(*argv, check=False), *names)


def test_a_config_of_only_the_required_keys_takes_the_defaults(tmp_path):
    proc = run_cli("check-config", _config(tmp_path, "results_dir: r\n" + DEMO), "--workflow-dir", str(REPO))
    assert proc.returncode == 0, proc.stderr
    assert "split versions v1" in proc.stdout


SNAKEMAKE_MISTAKES = [
    ("a misspelled key", {"n_shard": 2}, ["n_shard", "'n_shards'", "additionalProperties"]),
    ("a value out of range", {"n_shards": -1}, ["n_shards", "-1", "minimum"]),
    ("an unknown source", {"datasets": {"duke": {"source": "dem"}}}, ["datasets.duke.source", "demo, local, download"]),
    ("a missing key file", {"deid": {"secret_file": "/nonexistent/breastcurate.key"}}, ["breastcurate.key"]),
    ("a missing local mirror", {"datasets": {"duke": {"source": "local", "path": "/nonexistent/mirror"}}}, ["mirror"]),
    ("a missing radiomics parameter file", {"radiomics": {"params_mg": "/nonexistent/MG.yaml"}}, ["params_mg"]),
]


@pytest.mark.parametrize(
    "overrides, names", [(o, n) for _, o, n in SNAKEMAKE_MISTAKES], ids=[m[0] for m in SNAKEMAKE_MISTAKES]
)
def test_snakemake_config_mistake_is_a_few_lines(tmp_path, overrides, names):
    if overrides.get("datasets", {}).get("duke", {}).get("source") == "local":
        overrides = {**overrides, "deid": {"secret_file": _key(tmp_path)}}
    write_config(tmp_path, **overrides)
    assert_short_error(snakemake(tmp_path, "-n", check=False), *names)


def test_snakemake_fills_defaults_of_a_minimal_config(tmp_path):
    (tmp_path / "config.yaml").write_text("results_dir: results\ndatasets:\n  duke: {source: demo}\n")
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "check_shard" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def released(demo_run, tmp_path_factory) -> Path:
    """Release v1 of a copy of the demo run's results: its releases root."""
    copy = tmp_path_factory.mktemp("errors") / "results"
    shutil.copytree(demo_run[0] / "results", copy, ignore=shutil.ignore_patterns("raw", "deid"))
    run_cli(
        "release", "v1", "--results", str(copy), "--config", str(REPO / "config/config.yaml"),
        "--versions", str(REPO / "config/splits.yaml"),
    )  # fmt: skip
    return copy / "releases"


@pytest.mark.parametrize(
    "extra, names",
    [(["--version", "v9"], ["'v9'", "v1"]), (["--version", "v1", "--dataset", "dukee"], ["dukee", "duke"])],
    ids=["an unknown version", "an unknown dataset"],
)
def test_pull_of_what_a_release_does_not_hold(released, tmp_path, extra, names):
    proc = run_cli("pull", "--from", str(released), *extra, "--to", str(tmp_path / "p"), check=False)
    assert_short_error(proc, *names)
    assert not (tmp_path / "p").exists()


def test_diff_release_into_a_closed_pipe_is_quiet(released):
    release = released / "v1"
    cmd = f"{sys.executable} -m breastcurate diff-release {release} {release} | true"
    proc = subprocess.run(["bash", "-c", "sleep 0; " + cmd], capture_output=True, text=True)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_failed_data_check_ends_the_run_naming_it_and_keeps_the_details(demo_run, tmp_path):
    """In a copy of the demo run, a split check that 2 patients per dataset cannot pass: the run fails, the console
    names the check, the datasets, the count and where the details are, and those details are still there; the
    rejects per dataset and stage close the run's output."""
    work = tmp_path / "run"
    shutil.copytree(demo_run[0], work, symlinks=True)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config.setdefault("checks", {})["min_patients_for_split_check"] = 1
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(work, "--cores", "1", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    line = next(x for x in out.splitlines() if x.startswith("- check splits_non_empty:"))
    assert "duke" in line and "failing row(s)" in line, line
    details = next(x for x in out.splitlines() if x.startswith("details: "))
    summary = Path(details.split()[1])
    summary = summary if summary.is_absolute() else work / summary
    assert summary.is_file() and not yaml.safe_load(summary.read_text())["passed"]
    docs = details.split("Data Docs at ")[1]
    assert (work / docs).is_file()
    assert not (work / "results/curated/checks/checks.json").exists()
    assert "rejects per dataset and stage" in out and "select" in out
