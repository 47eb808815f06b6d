"""Property tests (hypothesis) for the pure functions: box transforms under flip and resize, date shifting, shards,
code maps, phase naming and ordering, the PNG encoder, pseudonyms. Deterministic (derandomized) and small."""

from __future__ import annotations

import datetime as dt
import io
import random
import re

import numpy as np
import pandas as pd
from breastcurate.codes import Codes, native_text
from breastcurate.convert import mammo
from breastcurate.convert.mri import Volume, name_phases
from breastcurate.deid.engine import _shift_da, _shift_dt
from breastcurate.deid.keys import Keyed
from breastcurate.shards import shard_of
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from pydicom.dataset import Dataset

settings.register_profile("breastcurate", max_examples=40, deadline=None, derandomize=True, database=None)
settings.load_profile("breastcurate")

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=24)
keys = st.binary(min_size=16, max_size=40)


# --- box transforms ----------------------------------------------------------------------------------------------


@st.composite
def image_and_box(draw):
    height, width = draw(st.integers(8, 48)), draw(st.integers(8, 48))
    x0, y0 = draw(st.integers(0, width - 2)), draw(st.integers(0, height - 2))
    x1, y1 = draw(st.integers(x0 + 1, width)), draw(st.integers(y0 + 1, height))
    return height, width, (x0, y0, x1, y1)


def _spec(flip_to: str | None, long_side: int | None) -> mammo.VariantSpec:
    return mammo.VariantSpec(name="v", bits=16, voi=False, long_side=long_side, flip_to=flip_to)


@given(image_and_box(), st.sampled_from(["L", "R"]), st.sampled_from(["L", "R"]))
def test_flipped_box_covers_the_flipped_pixels(case, laterality, flip_to):
    height, width, (x0, y0, x1, y1) = case
    image = np.zeros((height, width), np.uint16)
    image[y0:y1, x0:x1] = 1000
    arr, transform = mammo.variant(Dataset(), image, laterality, _spec(flip_to, None))
    assert transform.flipped == (laterality != flip_to)
    bx0, by0, bx1, by1 = transform.box(x0, y0, x1, y1)
    ys, xs = np.nonzero(arr)
    assert (bx0, by0, bx1, by1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


@given(image_and_box(), st.booleans())
def test_flip_is_its_own_inverse(case, flipped):
    height, width, box = case
    t = mammo.Transform(width=width, height=height, flipped=flipped)
    assert t.box(*t.box(*box)) == box


@given(image_and_box(), st.integers(4, 96), st.sampled_from([None, "L"]))
def test_resized_box_stays_on_its_pixels(case, long_side, flip_to):
    """After a resize the box scales with the image: inside it, in the same relative place, the same order."""
    height, width, (x0, y0, x1, y1) = case
    image = np.zeros((height, width), np.uint16)
    image[y0:y1, x0:x1] = 4000
    arr, t = mammo.variant(Dataset(), image, "R", _spec(flip_to, long_side))
    bx0, by0, bx1, by1 = t.box(x0, y0, x1, y1)
    new_h, new_w = arr.shape
    assert max(new_h, new_w) == long_side
    assert 0 <= bx0 < bx1 <= new_w + 1e-9 and 0 <= by0 < by1 <= new_h + 1e-9
    assert np.isclose(bx1 - bx0, (x1 - x0) * new_w / width) and np.isclose(by1 - by0, (y1 - y0) * new_h / height)
    cy, cx = int((by0 + by1) / 2), int((bx0 + bx1) / 2)  # the box's centre pixel is bright in the resized image
    if (y1 - y0) * new_h / height >= 3 and (x1 - x0) * new_w / width >= 3:
        assert arr[min(cy, new_h - 1), min(cx, new_w - 1)] > 2000


# --- date shifting -----------------------------------------------------------------------------------------------

dates = st.dates(dt.date(1901, 1, 1), dt.date(2099, 12, 31))
offsets = st.integers(-10950, 0)


def _da(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


@given(dates, offsets)
def test_date_shift_is_undone_by_the_opposite_shift(date, days):
    assert _shift_da(_shift_da(_da(date), days), -days) == _da(date)


@given(dates, dates, offsets)
def test_date_shift_keeps_intervals_and_order(a, b, days):
    sa, sb = (dt.datetime.strptime(_shift_da(_da(d), days), "%Y%m%d").date() for d in (a, b))
    assert sb - sa == b - a


@given(dates, st.from_regex(r"[0-2][0-9][0-5][0-9][0-5][0-9](\.[0-9]{1,6})?", fullmatch=True), offsets)
def test_datetime_shift_keeps_the_time_of_day(date, time, days):
    shifted = _shift_dt(_da(date) + time, days)
    assert shifted[8:] == time and shifted[:8] == _shift_da(_da(date), days)


@given(st.text(max_size=12).filter(lambda s: not re.match(r"\s*\d{8}", s)), offsets)
def test_a_value_that_is_no_date_is_emptied(value, days):
    assert _shift_da(value, days) == ""


@given(keys, ids, ids)
def test_date_offsets_are_per_patient_in_range_and_stable(key, dataset, patient):
    days = Keyed(key).date_offset_days(dataset, patient)
    assert -10950 <= days <= -7300 and days == Keyed(key).date_offset_days(dataset, patient)


# --- shards ------------------------------------------------------------------------------------------------------


@given(ids, ids, st.integers(1, 64), st.text(max_size=16))
def test_shard_is_in_range_and_stable(dataset, patient, n, salt):
    shard = shard_of(dataset, patient, n, salt)
    assert 0 <= shard < n and shard == shard_of(dataset, patient, n, salt)
    assert shard_of(dataset, patient, 1, salt) == 0


@given(st.lists(ids, min_size=1, max_size=30, unique=True), st.integers(2, 8), st.text(max_size=8))
def test_a_patient_never_moves_when_others_are_added(patients, n, salt):
    before = {p: shard_of("d", p, n, salt) for p in patients[:1]}
    after = {p: shard_of("d", p, n, salt) for p in patients}
    assert all(after[p] == s for p, s in before.items())


def test_shards_are_balanced_over_many_patients():
    counts = np.bincount([shard_of("duke", f"Breast_MRI_{i:03d}", 8, "salt") for i in range(4000)], minlength=8)
    assert counts.min() > 400 and counts.max() < 600  # 500 expected each; 5 sd ≈ 105


# --- code maps ---------------------------------------------------------------------------------------------------

cells = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.integers(-5, 5),
    st.integers(-5, 5).map(float),
    st.sampled_from(["A", "b", " 3 ", "3.0", "x  y", ""]),
)


@given(cells)
def test_native_text_is_idempotent_and_blank_is_none(value):
    text = native_text(value)
    assert text is None or (text == native_text(text) and text == text.strip() and text)


@given(st.integers(-1000, 1000))
def test_a_float_code_reads_as_its_integer(n):
    assert native_text(float(n)) == native_text(n) == native_text(f"{n}.0") == str(n)


@given(st.lists(cells, max_size=12), st.dictionaries(st.sampled_from(["A", "3", "x y", "-1"]), st.integers(0, 9)))
def test_code_map_keeps_native_maps_known_and_rejects_each_unknown_once(values, mapping):
    frame = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    codes = Codes("d")
    codes.map(frame, "t", "c", mapping)
    texts = [native_text(v) for v in values]
    assert [None if pd.isna(v) else v for v in frame["t_native"]] == texts
    for text, mapped in zip(texts, frame["t"]):
        assert (None if pd.isna(mapped) else mapped) == (None if text is None else mapping.get(text))
    unknown = {t for t in texts if t is not None and t not in mapping}
    assert len(codes.rejects) == len(unknown)
    assert all(r["dataset"] == "d" and r["reason"] for r in codes.rejects)


# --- phase naming and ordering -------------------------------------------------------------------------------------


def _volume(seconds: float | None, series: int, shape: tuple = (4, 4, 3), study: str = "1.2") -> Volume:
    return Volume(
        study_uid=study,
        series_uid=f"1.2.{series}",
        series_number=series,
        temporal_position=None,
        acquisition_seconds=seconds,
        data=np.zeros(shape, np.int16),
        affine=np.eye(4),
        slope=1.0,
        intercept=0.0,
        header=Dataset(),
        sources=[f"s{series}.dcm"],
    )


@given(st.lists(st.floats(0, 86400, allow_nan=False), min_size=2, max_size=7, unique=True), st.randoms())
def test_phases_are_named_in_acquisition_order_whatever_the_input_order(times, rnd):
    volumes = [_volume(t, i) for i, t in enumerate(times)]
    shuffled = volumes[:]
    rnd.shuffle(shuffled)
    assert name_phases(shuffled) == []
    by_time = sorted(volumes, key=lambda v: v.acquisition_seconds)
    assert [v.name for v in by_time] == ["pre"] + [f"post_{i}" for i in range(1, len(times))]


@given(st.integers(2, 5), st.integers(1, 3))
def test_a_volume_of_another_grid_is_no_phase(n_dce, n_other):
    dce = [_volume(float(i), i) for i in range(n_dce + n_other)]
    others = [_volume(100.0 + i, 50 + i, shape=(2, 2, 2)) for i in range(min(n_other, n_dce - 1))]
    rejects = name_phases(dce + others, strict=True)
    assert sorted(p for p, _ in rejects) == sorted(s for v in others for s in v.sources)
    assert all(not v.name for v in others)


# --- PNG encoder ---------------------------------------------------------------------------------------------------


def _decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as img:
        return np.asarray(img)


@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40))), st.integers(0, 9))
def test_png_8bit_round_trip(arr, level):
    decoded = _decode(mammo.encode_png(arr, level))
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, arr)


@given(arrays(np.uint16, st.tuples(st.integers(1, 40), st.integers(1, 40))), st.integers(0, 9))
def test_png_16bit_round_trip(arr, level):
    decoded = _decode(mammo.encode_png(arr, level))
    assert np.array_equal(decoded.astype(np.uint16), arr)
    assert mammo.encode_png(arr, level) == mammo.encode_png(arr.copy(), level)  # deterministic bytes


# --- pseudonyms ----------------------------------------------------------------------------------------------------


@given(keys, keys, ids, ids)
def test_pseudonyms_are_stable_and_keyed(key, other, dataset, patient):
    a, b = Keyed(key), Keyed(key)
    assert a.patient(dataset, patient) == b.patient(dataset, patient)
    assert re.fullmatch(r"P-[0-9a-f]{16}", a.patient(dataset, patient))
    assert len(a.accession(dataset, patient)) <= 16
    if other != key:
        assert Keyed(other).patient(dataset, patient) != a.patient(dataset, patient)


@given(keys, st.from_regex(r"[1-9][0-9]{0,5}(\.[0-9]{1,8}){2,6}", fullmatch=True))
def test_uids_are_valid_dicom_uids_and_stable(key, uid):
    new = Keyed(key).uid(uid)
    assert len(new) <= 64 and re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", new) and new == Keyed(key).uid(uid + " ")


def test_no_pseudonym_collisions_in_a_sample():
    keyed, rng = Keyed(b"k" * 32), random.Random(5)
    natives = {f"{rng.randrange(10**9):09d}" for _ in range(20000)}
    assert len({keyed.patient("embed", n) for n in natives}) == len(natives)
    assert len({keyed.uid(f"1.2.840.{n}") for n in natives}) == len(natives)
