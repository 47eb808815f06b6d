"""Fuzzing of DICOM input: mutants of real files from tests/data, made deterministically from a seed, go through the
per-file functions of inventory (`inspect`), de-identification (`_process`) and conversion (`to_png`) in-process.

Every mutant ends, at every stage, as a valid output or a reject row with a reason: never an exception out of the
stage (a crash), a hang (a time limit per file) or a partial file (a `.tmp` leftover, or a file no row lists)."""

from __future__ import annotations

import contextlib
import random
import signal
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from breastcurate.convert.run import ConvertOptions, to_png
from breastcurate.deid.run import Collector, _process, make_deidentifier
from breastcurate.inventory.run import inspect

DATA = Path(__file__).parent / "data"
#: Small real files (licences beside them): uncompressed, RLE, JPEG lossless, JPEG-LS, JPEG 2000, big endian,
#: ACR-NEMA without a meta header, MONOCHROME1, 12-bit signed.
SEEDS = [
    DATA / "convert/mammography/dclunie_mg_pixel_spacing/MG_Explicit_Little.dcm",
    DATA / "convert/mammography/monochrome1_controls/RG3_J2KI.dcm",
    DATA / "convert/mammography/monochrome1_controls/CR-MONO1-10-chest",
    DATA / "convert/dcm_qa_12bit/In/12bitSigned_0x0F0F.dcm",
    *(DATA / f"convert/dcm_qa_ts/In/{n}.dcm" for n in (2, 3, 4, 5, 6, 7, 9)),
    DATA / "deid/already_deidentified/00001.dcm",
]
SEED = 20261202
PER_KIND = 10  # mutants per seed file and kind of mutation: 12 files × 5 kinds × 10 = 600
SECONDS_PER_FILE = 10
KEY = b"fuzz-key-0123456789abcdef-fuzz-key"
#: Tags whose deletion or corruption the fuzzer tries (Transfer Syntax, Rows, Columns, BitsAllocated, BitsStored,
#: PhotometricInterpretation, SamplesPerPixel, SOP Instance UID).
TAGS = [(0x0002, 0x0010), (0x0028, 0x0010), (0x0028, 0x0011), (0x0028, 0x0100), (0x0028, 0x0101), (0x0028, 0x0004)]
TAGS += [(0x0028, 0x0002), (0x0008, 0x0018)]
VRS = [b"SQ", b"US", b"UL", b"OB", b"OW", b"DS", b"UI", b"UN", b"FD", b"AT", b"XX"]


class Hang(Exception):
    """A file took longer than SECONDS_PER_FILE in one stage."""


def _pixel_offset(data: bytes) -> int:
    """Where the Pixel Data element starts (its tag), or the file's end."""
    for tag in (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10"):
        at = data.rfind(tag)
        if at > 0:
            return at
    return len(data)


def _tag_offsets(data: bytes, tag: tuple[int, int]) -> list[int]:
    """Offsets of `tag` in the header, in little- and big-endian byte order."""
    end = _pixel_offset(data)
    found = []
    for fmt in ("<HH", ">HH"):
        needle, start = struct.pack(fmt, *tag), 0
        while (at := data.find(needle, start, end)) >= 0:
            found.append(at)
            start = at + 1
    return found


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(min(len(out), _pixel_offset(data) + 12))] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def corrupt_tag(data: bytes, rng: random.Random) -> bytes:
    """A header tag deleted (its bytes renamed to a private tag), its value overwritten, or the Pixel Data length
    changed."""
    out = bytearray(data)
    choice = rng.randrange(3)
    if choice == 2:  # the Pixel Data length field: an explicit-VR OB/OW element has it 8 bytes after the tag
        at = _pixel_offset(data)
        if at < len(data) - 12:
            where = at + (8 if data[at + 4 : at + 6] in (b"OB", b"OW") else 4)
            out[where : where + 4] = struct.pack("<I", rng.choice([0, 1, 3, 0xFFFFFFFF, rng.randrange(1 << 32)]))
        return bytes(out)
    offsets = [at for tag in TAGS for at in _tag_offsets(data, tag)]
    if not offsets:
        return bytes(out)
    at = rng.choice(offsets)
    if choice == 0:
        out[at + 2 : at + 4] = b"\x99\x99"  # a different element: the original tag is gone
    else:  # the value starts 8 bytes after the tag (explicit VR: tag, VR, 2-byte length; implicit: tag, length)
        value = at + 8
        for i in range(value, min(value + 4, len(out))):
            out[i] = rng.randrange(256)
    return bytes(out)


def wrong_vr(data: bytes, rng: random.Random) -> bytes:
    """An explicit-VR element of the header given another VR (its length field left as it was)."""
    end = _pixel_offset(data)
    out = bytearray(data)
    candidates = [i for i in range(132, end - 6, 2) if data[i + 4 : i + 6].isalpha() and data[i + 4 : i + 6].isupper()]
    if not candidates:
        return flip_bytes(data, rng)
    for at in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
        out[at + 4 : at + 6] = rng.choice(VRS)
    return bytes(out)


def cut_pixel_data(data: bytes, rng: random.Random) -> bytes:
    """The file cut inside its pixel data (for compressed files: inside the fragments)."""
    start = _pixel_offset(data)
    return data[: rng.randrange(start + 1, len(data))] if start < len(data) - 1 else data[:-1]


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip": flip_bytes,
    "truncate": truncate,
    "tag": corrupt_tag,
    "vr": wrong_vr,
    "pixels": cut_pixel_data,
}


def mutants() -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every mutant, the same on every run."""
    rng = random.Random(SEED)
    for seed in SEEDS:
        data = seed.read_bytes()
        for kind, mutate in MUTATIONS.items():
            for n in range(PER_KIND):
                yield f"{seed.stem}-{kind}-{n}", mutate(data, rng)


@contextlib.contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Raise Hang in the block after `seconds` (SIGALRM: the main thread of this process)."""

    def alarm(signum, frame):
        raise Hang(f"more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_mutants_are_valid_or_rejected(tmp_path, capsys):
    deid = make_deidentifier(KEY, "folder", ())
    options = ConvertOptions.from_config(None)
    counts: Counter = Counter()
    failures = []
    for name, data in mutants():
        counts["mutants"] += 1
        work = tmp_path / name
        work.mkdir()
        source = work / f"{name}.dcm"
        source.write_bytes(data)
        deid_out, png_out = work / "deid", work / "png"
        try:
            with _time_limit(SECONDS_PER_FILE):
                row, ds = inspect("fuzz", {"path": name, "shard": 0, "native_patient_id": None}, data)
            assert ("reason" in row) == (ds is None), name
            assert ds is not None or row["reason"], name
            counts["inventory valid" if ds is not None else "inventory rejected"] += 1

            collector = Collector("folder")
            with _time_limit(SECONDS_PER_FILE):
                _process(deid, ds if ds is not None else source, None, name, deid_out, collector)
            written = _files(deid_out) if deid_out.exists() else set()
            listed = {deid_out / r["deid_path"] for r in collector.filemap}
            assert written == listed, f"{name}: de-identified files {written} but listed {listed}"
            for path in written:
                pydicom.dcmread(path, force=True)  # whole, readable files only
            outcomes = len(collector.filemap) + len(collector.quarantine) + len(collector.rejects)
            assert outcomes == 1 and all(r["reason"] for r in collector.rejects + collector.quarantine), name
            kind = "valid" if collector.filemap else "quarantined" if collector.quarantine else "rejected"
            counts[f"deid {kind}"] += 1

            converted = listed.pop() if listed else source
            with _time_limit(SECONDS_PER_FILE):
                out = to_png([converted], png_out, options)
            written = _files(png_out) if png_out.exists() else set()
            pngs = {png_out / r["path"] for r in out.rows["files"]}
            assert {p for p in written if p.suffix == ".png"} == pngs, f"{name}: partial conversion output"
            assert not any(p.name.endswith(".tmp") for p in written), name
            if out.rows["rejects"]:
                assert not pngs and all(r["reason"] for r in out.rows["rejects"]), (name, out.rows["rejects"])
                counts["convert rejected"] += 1
            else:
                assert pngs and out.rows["images"], name
                counts["convert valid"] += 1
        except Exception as exc:  # collected, so that one run names every failing mutant
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
    with capsys.disabled():
        print("\nDICOM fuzzing:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    assert counts["mutants"] >= 500
    assert not failures, f"{len(failures)} mutants failed:\n" + "\n".join(failures[:40])


@pytest.mark.parametrize("kind", sorted(MUTATIONS))
def test_mutants_are_deterministic(kind):
    rng1, rng2, data = random.Random(1), random.Random(1), SEEDS[0].read_bytes()
    assert MUTATIONS[kind](data, rng1) == MUTATIONS[kind](data, rng2) != data
