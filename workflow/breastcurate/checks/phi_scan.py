"""The PHI scan: every PHI value of the raw headers, searched in everything a curated file can carry text in.

What is searched, per file (never the decoded pixels or voxels — burned-in text is the quarantine's job, by
BurnedInAnnotation and by modality and device rules):
- its path below the curated folder;
- PNG: the text chunks (tEXt, zTXt, iTXt), every chunk that is not pixel data or a fixed-format field, and any bytes
  after IEND — found by walking the chunk headers, without inflating the image;
- NIfTI: the header's text fields (descrip, aux_file, intent_name, db_name) and every header extension — read by
  inflating only the first bytes of the file. The voxel block is not decoded, but its size is checked: the gzip
  trailer (ISIZE) or the file size must equal vox_offset + voxels × bytes per voxel, so anything appended after the
  voxels is found, inflated and searched;
- Parquet: every cell and the schema metadata; JSON and other text: all of it;
- DICOM: every header value, and the file's bytes except the Pixel Data value (preamble, binary and private
  elements, anything after the pixels), found by reading the header and the pixel element's length only;
- anything else: its bytes as text (only values of 8 characters or more, which do not turn up by chance).

Terms match whole tokens, case-insensitively. The pipeline scans per shard, for the terms of the shard's own
patients and the dataset-wide terms (see deid/phi_terms.py); `scan-phi --raw RAW CURATED` collects the terms from
raw files itself.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..deid.phi_terms import TermLog
from ..dicomio import BAD_INPUT, dcmread, parse_all

MIN_LENGTH = 4
#: Bytes of unknown format (and data appended after an image) hold short names by chance ("TRAN" in random bytes),
#: so only values of this length or more count there.
MIN_LENGTH_BINARY = 8
TEXT_SUFFIXES = (".json", ".txt", ".csv", ".tsv", ".md", ".html", ".sql", ".yaml", ".yml", ".xml")
#: PNG chunks that hold only pixels or fixed-format numbers: the only ones not searched.
PNG_NO_TEXT = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"sBIT",
    b"pHYs",
    b"bKGD",
    b"hIST",
    b"tIME",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Hit:
    """One PHI value found in a curated file (the value itself is masked in reports)."""

    path: str
    kind: str
    masked: str


def mask(value: str) -> str:
    return value[0] + "*" * (len(value) - 2) + value[-1] if len(value) > 2 else "**"


TOKEN = re.compile(r"[^\W_]+(?:[.\-][^\W_]+)*")
WORD = re.compile(r"[^\W_]+")


def tokens(text: str) -> set[str]:
    """Tokens of `text` (runs of letters/digits, joined by . or -) and every contiguous piece of them."""
    found: set[str] = set()
    for match in TOKEN.finditer(text):
        token = match.group(0)
        found.add(token)
        pieces = re.split(r"([.\-])", token)
        n = (len(pieces) + 1) // 2
        if 1 < n <= 12:
            for i in range(n):
                for j in range(i, n):
                    found.add("".join(pieces[2 * i : 2 * j + 1]))
    return found


def normal(text: str) -> str:
    """Lower-case words joined by single spaces, with a space at both ends (for phrase look-ups)."""
    return " " + " ".join(WORD.findall(text.lower())) + " "


class Matcher:
    """Whole-token, case-insensitive matching of many terms: a set look-up per token, a find per phrase."""

    def __init__(self, terms: dict[str, str]):
        self.single: dict[str, tuple[str, str]] = {}
        self.phrases: dict[str, tuple[str, str]] = {}
        for term, kind in terms.items():
            low = term.lower()
            if TOKEN.fullmatch(low):
                self.single.setdefault(low, (term, kind))
            elif WORD.search(low):
                self.phrases.setdefault(normal(low), (term, kind))

    def __len__(self) -> int:
        return len(self.single) + len(self.phrases)

    def find(self, text: str, min_length: int = MIN_LENGTH) -> list[tuple[str, str]]:
        low = text.lower()
        hits = [self.single[t] for t in tokens(low) if t in self.single]
        if self.phrases:
            words = normal(low)
            hits += [v for phrase, v in self.phrases.items() if phrase in words]
        return [h for h in hits if len(h[0]) >= min_length]


# --- what a file can carry text in ---------------------------------------------------------------------------------


def _png_texts(handle) -> Iterator[tuple[str, int]]:
    if handle.read(8) != PNG_SIGNATURE:
        handle.seek(0)
        yield handle.read().decode("latin-1"), MIN_LENGTH_BINARY
        return
    while True:
        head = handle.read(8)
        if len(head) < 8:
            return
        length, kind = struct.unpack(">I4s", head)
        if kind in PNG_NO_TEXT:
            handle.seek(length + 4, os.SEEK_CUR)
        else:
            data = handle.read(length)
            handle.seek(4, os.SEEK_CUR)
            yield from _png_chunk_text(kind, data)
        if kind == b"IEND":
            rest = handle.read()
            if rest:  # bytes after the end of the image
                yield rest.decode("latin-1"), MIN_LENGTH_BINARY
            return


def _png_chunk_text(kind: bytes, data: bytes) -> Iterator[tuple[str, int]]:
    keyword, _, body = data.partition(b"\0")
    yield keyword.decode("latin-1"), MIN_LENGTH
    try:
        if kind == b"zTXt":
            body = zlib.decompress(body[1:])
        elif kind == b"iTXt":
            compressed, body = body[0], body[2:]
            language, _, body = body.partition(b"\0")
            translated, _, body = body.partition(b"\0")
            yield (language + b" " + translated).decode("utf-8", "replace"), MIN_LENGTH
            body = zlib.decompress(body) if compressed else body
        elif kind == b"iCCP":
            body = zlib.decompress(body[1:])
    except zlib.error:
        pass  # searched as it is
    text_chunk = kind in (b"tEXt", b"zTXt", b"iTXt")
    yield (
        body.decode("utf-8" if kind == b"iTXt" else "latin-1", "replace"),
        MIN_LENGTH if text_chunk else MIN_LENGTH_BINARY,
    )


def _nifti_layout(head: bytes) -> tuple[int, int] | None:
    """(vox_offset, voxel bytes) from the first 540 bytes of a NIfTI-1 or -2 file, or None."""
    for order in "<>":
        if len(head) >= 348 and struct.unpack(order + "i", head[:4])[0] == 348:
            dims = struct.unpack(order + "8h", head[40:56])
            bitpix = struct.unpack(order + "h", head[72:74])[0]
            offset = int(struct.unpack(order + "f", head[108:112])[0])
            break
        if len(head) >= 540 and struct.unpack(order + "i", head[:4])[0] == 540:
            dims = struct.unpack(order + "8q", head[16:80])
            bitpix = struct.unpack(order + "h", head[14:16])[0]
            offset = struct.unpack(order + "q", head[168:176])[0]
            break
    else:
        return None
    voxels = 1
    for d in dims[1 : 1 + max(0, min(7, dims[0]))]:
        voxels *= max(1, int(d))
    return max(offset, 352), voxels * bitpix // 8


def _nifti_texts(path: Path) -> Iterator[tuple[str, int]]:
    gz = path.name.lower().endswith(".gz")
    with gzip.open(path, "rb") if gz else open(path, "rb") as handle:
        head = handle.read(540)
        layout = _nifti_layout(head)
        if layout is None:
            yield head.decode("latin-1"), MIN_LENGTH_BINARY
            return
        offset, payload = layout
        header = head[:offset] + (handle.read(offset - len(head)) if offset > len(head) else b"")
        yield header[:offset].decode("latin-1"), MIN_LENGTH  # text fields and extensions
    if gz:
        with open(path, "rb") as raw:
            raw.seek(-4, os.SEEK_END)
            size = struct.unpack("<I", raw.read(4))[0]
        expected = (offset + payload) % (1 << 32)
    else:
        size, expected = path.stat().st_size, offset + payload
    if size != expected:  # something besides header and voxels: inflate and search what follows the voxels
        with gzip.open(path, "rb") if gz else open(path, "rb") as handle:
            handle.seek(offset + payload)
            yield handle.read().decode("latin-1"), MIN_LENGTH_BINARY


def _parquet_texts(path: Path) -> Iterator[tuple[str, int]]:
    table = pq.read_table(path)
    yield "\n".join(table.column_names), MIN_LENGTH
    for column in table.columns:
        yield "\n".join(str(v) for v in column.to_pylist() if v is not None), MIN_LENGTH
    metadata = table.schema.metadata or {}
    yield "\n".join((k + b"=" + v).decode("utf-8", "replace") for k, v in metadata.items()), MIN_LENGTH


def _pixel_data_end(handle: BinaryIO, start: int, implicit_vr: bool, little_endian: bool) -> int | None:
    """Where the Pixel Data element (or Float / Double Float Pixel Data) that begins at `start` ends, or None when
    no such element begins there. Reads element and item headers only: encapsulated frames are skipped item by
    item."""
    order = "<" if little_endian else ">"
    handle.seek(start)
    head = handle.read(12)
    if len(head) < 12:
        return None
    group, element = struct.unpack(order + "HH", head[:4])
    if group != 0x7FE0 or element not in (0x0008, 0x0009, 0x0010):
        return None
    if implicit_vr:
        (length,), position = struct.unpack(order + "I", head[4:8]), start + 8
    else:
        (length,), position = struct.unpack(order + "I", head[8:12]), start + 12
    if length != 0xFFFFFFFF:
        return position + length
    while True:  # the items of encapsulated frames, up to the sequence delimiter
        handle.seek(position)
        item = handle.read(8)
        if len(item) < 8:
            return None
        group, element, item_length = struct.unpack(order + "HHI", item)
        position += 8
        if (group, element) == (0xFFFE, 0xE0DD):
            return position
        if (group, element) != (0xFFFE, 0xE000):
            return None
        position += item_length


def _dicom_texts(path: Path) -> Iterator[tuple[str, int]]:
    """Every header value; and the file's bytes as text except the Pixel Data value: preamble, file meta, every
    element (binary and private ones included) and whatever follows the pixels. A file whose Pixel Data cannot be
    delimited is searched whole."""
    with open(path, "rb") as handle:
        ds = parse_all(dcmread(handle, stop_before_pixels=True, force=True))
        header_end = handle.tell()
        implicit_vr, little_endian = ds.original_encoding
        end = None
        if implicit_vr is not None and little_endian is not None:
            end = _pixel_data_end(handle, header_end, implicit_vr, little_endian)
        handle.seek(0)
        if end is None:
            parts = [handle.read()]
        else:
            parts = [handle.read(header_end)]
            handle.seek(end)
            parts.append(handle.read())
    values = []
    for elem in ds.iterall():
        if elem.VR not in ("SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN") and elem.value is not None:
            values.append(str(elem.value))
    yield "\n".join(values), MIN_LENGTH
    for part in parts:
        for encoding in ("utf-8", "latin-1"):
            yield part.decode(encoding, errors="ignore"), MIN_LENGTH_BINARY


def texts_of(path: Path) -> Iterator[tuple[str, int]]:
    """The texts to search in one file, each with the minimum value length that counts there."""
    name = path.name.lower()
    if name.endswith(".png"):
        with open(path, "rb") as handle:
            yield from _png_texts(handle)
    elif name.endswith((".nii", ".nii.gz")):
        yield from _nifti_texts(path)
    elif name.endswith(".parquet"):
        yield from _parquet_texts(path)
    elif name.endswith(TEXT_SUFFIXES):
        yield path.read_text(errors="replace"), MIN_LENGTH
    else:
        with open(path, "rb") as handle:
            is_dicom = handle.read(132)[128:132] == b"DICM"
        if is_dicom or name.endswith(".dcm"):
            yield from _dicom_texts(path)
            return
        data = path.read_bytes()
        for encoding in ("utf-8", "latin-1"):
            yield data.decode(encoding, errors="ignore"), MIN_LENGTH_BINARY


# --- scanning --------------------------------------------------------------------------------------------------------

_MATCHER: Matcher | None = None
#: What reading a broken file raises (a cut gzip stream, a corrupt Parquet footer or zlib stream, a bad DICOM).
UNREADABLE = (*BAD_INPUT, zlib.error, pa.ArrowException)


def _init_worker(matcher: Matcher) -> None:
    global _MATCHER
    _MATCHER = matcher


def _masked(rel: str, found: dict[str, str]) -> list[Hit]:
    shown = rel
    for term in found:  # the report must not repeat the PHI it found, not even in a path
        shown = re.sub(re.escape(term), mask(term), shown, flags=re.IGNORECASE)
    return [Hit(shown, kind, mask(term)) for term, kind in sorted(found.items())]


def scan_file(args: tuple[Path, str]) -> list[Hit]:
    """Hits in one file (or folder: its name only); `rel` is how it is named in reports."""
    path, rel = args
    assert _MATCHER is not None
    found: dict[str, str] = dict(_MATCHER.find(rel))
    problem = None
    if path.is_file():
        try:
            for text, min_length in texts_of(path):
                found.update(_MATCHER.find(text, min_length))
        except UNREADABLE as exc:  # an unreadable curated file cannot be shown to be clean
            problem = type(exc).__name__
    hits = _masked(rel, found)
    if problem:
        hits.append(Hit(hits[0].path if hits else rel, "unreadable file", problem))
    return hits


def walk(roots: Iterable[Path]) -> list[Path]:
    """Every file and folder under `roots` (each root itself included), sorted."""
    out = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            continue
        out.append(root)
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                out += [Path(dirpath) / n for n in dirnames + filenames]
    return sorted(set(out))


def scan(paths: list[Path], base: Path, terms: dict[str, str], workers: int = 1) -> tuple[list[Hit], int]:
    """Hits of `terms` (value → kind) in `paths` (files and folders, walked), named relative to `base`; also the
    number of paths scanned."""
    matcher = Matcher(terms)
    items = walk(paths)
    jobs = [(p, p.relative_to(base).as_posix() if p.is_relative_to(base) else p.as_posix()) for p in items]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(matcher,)) as pool:
            results = list(pool.map(scan_file, jobs, chunksize=max(1, len(jobs) // (workers * 8))))
    else:
        _init_worker(matcher)
        results = [scan_file(job) for job in jobs]
    return [hit for found in results for hit in found], len(jobs)


def _file_terms(path: Path) -> TermLog:
    log = TermLog()
    log.add_file(path)
    return log


def terms_from_raw(raws: list[Path], workers: int = 1) -> dict[str, str]:
    """PHI values in the raw files under `raws` (the `scan-phi --raw` command): value → kind."""
    paths = sorted(p for p in walk(raws) if p.is_file())
    if workers > 1 and len(paths) > 1:
        with ProcessPoolExecutor(workers) as pool:
            per_file = list(pool.map(_file_terms, paths, chunksize=max(1, len(paths) // (workers * 8))))
    else:
        per_file = [_file_terms(p) for p in paths]
    merged = TermLog()
    for found in per_file:
        merged.public |= found.public
        for term, value in found.terms.items():
            merged.terms.setdefault(term, value)
    return {row["term"]: row["kind"] for row in merged.rows()}


def terms_from_tables(files: Iterable[Path], scope: str | None = None) -> dict[str, str]:
    """PHI values of term tables (`phi_terms`), optionally of one scope: value → kind."""
    terms: dict[str, str] = {}
    for path in files:
        table = pq.read_table(path).to_pydict()
        for term, kind, term_scope in zip(table["term"], table["kind"], table["scope"]):
            if scope is None or term_scope == scope:
                terms.setdefault(term, kind)
    return terms


def scan_against_tables(paths: list[Path], base: Path, term_files: Iterable[Path]) -> tuple[list[Hit], int, int]:
    """Hits in a few files of every term table (the global scan: tables no shard owns, against every shard's
    terms). The files are indexed once; each table is streamed past the index (a vectorized look-up of its
    lower-cased terms in each file's tokens), so memory holds one table at a time. Returns hits, terms searched
    and paths scanned."""
    items = walk(paths)
    indexed = []
    for path in items:
        rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.as_posix()
        texts = [(rel, MIN_LENGTH)] + (list(texts_of(path)) if path.is_file() else [])
        for min_length in sorted({m for _, m in texts}):
            joined = "\n".join(t for t, m in texts if m == min_length)
            indexed.append((rel, pa.array(sorted(tokens(joined.lower()))), normal(joined), min_length))
    found: dict[str, dict[str, str]] = {}
    searched = 0
    for table_file in term_files:
        table = pq.read_table(table_file, columns=["term", "kind"])
        searched += table.num_rows
        lower = pc.utf8_lower(table["term"])
        length = pc.utf8_length(table["term"])
        phrase = pc.match_substring_regex(lower, r"[^0-9a-z.\-]")
        for rel, words, text, min_length in indexed:
            long_enough = pc.greater_equal(length, min_length)
            hit = pc.and_(pc.is_in(lower, value_set=words), long_enough)
            rows = table.filter(hit).to_pydict()
            hits = dict(zip(rows["term"], rows["kind"]))
            candidates = table.filter(pc.and_(phrase, long_enough)).to_pydict()
            hits.update(
                {t: k for t, k in zip(candidates["term"], candidates["kind"]) if WORD.search(t) and normal(t) in text}
            )
            if hits:
                found.setdefault(rel, {}).update(hits)
    return [hit for rel, terms in sorted(found.items()) for hit in _masked(rel, terms)], searched, len(items)


def report(hits: list[Hit], terms: int, paths: int) -> dict:
    """The summary a clean scan leaves in the curated zone (counts only)."""
    return {"hits": len(hits), "phi_values_searched": terms, "paths_scanned": paths}
