"""PS3.15 Table E.1-1 (rev 2024b, schemas/deid/) resolved into one action per tag for the chosen options."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

import yaml

from ..config import section
from ..errors import BreastcurateError
from ..layout import SCHEMAS

TABLE = SCHEMAS / "deid" / "annex_e_table_e1_1.csv"
SAFE_PRIVATE = SCHEMAS / "deid" / "safe_private.yaml"

#: Option name (config key) → (Table E.1-1 column, DCM code of CID 7050, code meaning).
OPTIONS = {
    "retain_safe_private": ("rtnSafePrivOpt", "113111", "Retain Safe Private Option"),
    "retain_uids": ("rtnUIDsOpt", "113110", "Retain UIDs Option"),
    "retain_device_identity": ("rtnDevIdOpt", "113109", "Retain Device Identity Option"),
    "retain_institution_identity": ("rtnInstIdOpt", "113112", "Retain Institution Identity Option"),
    "retain_patient_characteristics": ("rtnPatCharsOpt", "113108", "Retain Patient Characteristics Option"),
    "retain_longitudinal_full_dates": (
        "rtnLongFullDatesOpt",
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    "retain_longitudinal_modified_dates": (
        "rtnLongModifDatesOpt",
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "clean_descriptors": ("cleanDescOpt", "113105", "Clean Descriptors Option"),
    "clean_structured_content": ("cleanStructContOpt", "113104", "Clean Structured Content Option"),
    "clean_graphics": ("cleanGraphOpt", "113103", "Clean Graphics Option"),
}
BASIC = ("113100", "Basic Application Confidentiality Profile")
#: Compound actions of the table, resolved without IOD type information: keep the element present but empty
#: where allowed (Z), else a dummy (D); UIDs are always remapped.
COMPOUND = {"X/Z": "Z", "X/D": "D", "Z/D": "Z", "X/Z/D": "Z", "X/Z/U*": "U"}


@dataclass(frozen=True)
class Profile:
    """Effective actions: `by_tag` for exact tags, `patterns` for the (50XX,XXXX)/(60XX,eeee) rows."""

    by_tag: dict[int, str]
    patterns: dict[tuple[int, int | None], str]  # (group high byte 0x50/0x60, element or None) → action
    safe_private: frozenset[tuple[str, int, int]]
    options: tuple[str, ...]

    def codes(self) -> list[tuple[str, str]]:
        """DCM codes of the profile and the options applied."""
        return [BASIC] + [(OPTIONS[o][1], OPTIONS[o][2]) for o in self.options]

    def action(self, tag: int) -> str | None:
        """The action for a public tag, or None when the table does not list it (kept)."""
        if tag in self.by_tag:
            return self.by_tag[tag]
        group, element = tag >> 16, tag & 0xFFFF
        if group & 0xFF00 in (0x5000, 0x6000) and group % 2 == 0:
            return self.patterns.get((group & 0xFF00, element), self.patterns.get((group & 0xFF00, None)))
        return None


def _resolve(row: dict[str, str], options: tuple[str, ...]) -> str:
    action = row["basicProfile"]
    for option in options:
        override = row.get(OPTIONS[option][0], "")
        if override:
            action = override
    return COMPOUND.get(action, action)


@cache
def load_profile(options: tuple[str, ...]) -> Profile:
    """Build the profile for the enabled `options` (config keys of OPTIONS)."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise BreastcurateError(f"unknown de-identification option(s): {', '.join(sorted(unknown))}")
    ordered = tuple(o for o in OPTIONS if o in options)
    by_tag: dict[int, str] = {}
    patterns: dict[tuple[int, int | None], str] = {}
    with open(TABLE, newline="") as fh:
        for row in csv.DictReader(fh):
            if "ODD" in row["tag"].upper():
                continue  # private (odd-group) elements: removed unless on the safe-private list (engine)
            group, element = row["tag"].strip("()").split(",")
            action = _resolve(row, ordered)
            if "X" in group.upper()[2:]:
                high = int(group[:2], 16) << 8
                patterns[(high, None if "X" in element.upper() else int(element, 16))] = action
            else:
                by_tag[(int(group, 16) << 16) | int(element, 16)] = action
    safe: frozenset[tuple[str, int, int]] = frozenset()
    if "retain_safe_private" in ordered:
        safe = frozenset(
            (e["creator"], int(e["group"]), int(e["element"])) for e in yaml.safe_load(SAFE_PRIVATE.read_text())
        )
    return Profile(by_tag, patterns, safe, ordered)


def options_from_config(block: dict[str, bool] | None) -> tuple[str, ...]:
    """Enabled options from a config block (`deid.options`; the config schema's defaults for those it leaves out)."""
    merged = section("deid", {"options": block or {}})["options"]
    return tuple(sorted(k for k, v in merged.items() if v))
