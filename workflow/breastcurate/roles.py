"""Roles of the MRI series of a study: which series are the DCE phases, which are derived maps, masks, T1, T2, DWI.

Each series gets one role and the reason for it. Rules are regular expressions searched (case-insensitively) in the
SeriesDescription, tried in this order:

1. the modality: SEG → `seg`; a non-image object (SR, PR, KO, RTSTRUCT) → `other`;
2. derived-image names, whatever the dataset: "<X>: SER", "<X>: PE2", subtractions, MIPs, reformats, masks;
3. the dataset adapter's rules, which know the collection's own naming (from the IDC series index);
4. ImageType DERIVED or SECONDARY → `derived`;
5. the generic rules below (diffusion, ADC, localizers, dynamic series, T2, T1);
6. nothing matched → `other`.

Then, per study: the series a map "<X>: SER" / "<X>: PE1" was computed from is the DCE acquisition (I-SPY's central
analysis names its maps after their source), and when a study holds DCE acquisitions of several groups (I-SPY2: the
cropped VOLSER series its masks refer to, and the site's own series), the lowest group wins and the others become
`other`, with a reason that names the chosen one. Only `dce` series become phases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

ROLES = ("dce", "derived", "seg", "t1", "t2", "dwi", "adc", "other")
NON_IMAGE_MODALITIES = {"SR", "PR", "KO", "RTSTRUCT", "REG", "DOC", "OT"}


@dataclass(frozen=True)
class RoleRule:
    """A description pattern and the role it means; `group` ranks DCE acquisitions (lower wins within a study)."""

    pattern: str
    role: str
    reason: str
    group: int = 1

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown series role {self.role!r}")

    def matches(self, description: str) -> bool:
        return re.search(self.pattern, description, flags=re.IGNORECASE) is not None


@dataclass
class SeriesInfo:
    """What the rules look at: header values of one series (or one row of the IDC index)."""

    series_uid: str
    study_uid: str
    modality: str = "MR"
    description: str = ""
    series_number: int | None = None
    image_type: tuple[str, ...] = ()
    instances: int = 0


@dataclass
class Role:
    role: str
    reason: str
    group: int | None = None  # the DCE group, for `dce` series
    by: str = "rule"  # rule | image_type | source | default: how the role was decided
    extra: dict = field(default_factory=dict)


DERIVED_MAP = re.compile(r"^(?P<source>.*\S)\s*:\s*(SER|PE\d*)\s*$", re.IGNORECASE)

#: Derived images, whatever the dataset: never DCE phases.
DERIVED_RULES: tuple[RoleRule, ...] = (
    RoleRule(
        r":\s*(SER|PE\d*)\s*$|\bSER\b|\bPE\d+\b", "derived", "signal enhancement ratio or percent enhancement map"
    ),
    RoleRule(r"\bsub(traction|tracted)?\b|_SUB\b|\bSUB_", "derived", "subtraction image"),
    RoleRule(
        r"\bMIP\b|\bMPR\b|reformat|\baverage\b|summary series|\bCAD\b|\bmask\b",
        "derived",
        "projection, reformat, CAD output or mask",
    ),
)
GENERIC_RULES: tuple[RoleRule, ...] = (
    RoleRule(r"\bADC\b|apparent diffusion", "adc", "apparent diffusion coefficient map"),
    RoleRule(
        r"\bDWI|diffusion|\bDW[_ ]|DWSSFSE|\bTRACE\b|b-?vals?\b|\bb ?= ?\d|\bDTI\b|tensor", "dwi", "diffusion-weighted"
    ),
    RoleRule(
        r"\bloc(ali[sz](er|ation))?\b|scout|survey|3[- ]?p(l(ane)?)?\b|calibration|\bcal\b|\bASSET\b|"
        r"initiali[sz]ed",
        "other",
        "localizer, scout or calibration",
    ),
    RoleRule(
        r"\bdyn|dynamic|\bDCE\b|multi-?phase|pre ?(and|\+|/|&) ?post|\bph\d+/|\d ?dyn",
        "dce",
        "dynamic contrast-enhanced series",
        group=2,
    ),
    RoleRule(r"\bT1(W|\b|_)", "t1", "T1-weighted series (not dynamic)"),
    RoleRule(
        r"\bT2|T2W|STIR|TIRM|\bFSE\b|\bTSE\b|IDEAL|FIESTA|HASTE|\bIR\b(?!-?SPGR)",
        "t2",
        "T2-weighted or fluid-sensitive series",
    ),
    RoleRule(r"SPGR|FL3D|FLASH|VIBE|VIBRANT|3DFGRE|\bGRE\b|THRIVE|\bFFE\b", "t1", "T1-weighted series (not dynamic)"),
)


def classify(series: SeriesInfo, rules: Sequence[RoleRule] = ()) -> Role:
    """The role of one series on its own (before the study-level rules)."""
    description = " ".join((series.description or "").split())
    modality = (series.modality or "").upper()
    if modality == "SEG":
        return Role("seg", "DICOM Segmentation object")
    if modality in NON_IMAGE_MODALITIES:
        return Role("other", f"not an image series (Modality {modality})")
    for rule in DERIVED_RULES:
        if rule.matches(description):
            return Role(rule.role, rule.reason)
    for rule in rules:
        if rule.matches(description):
            return Role(rule.role, f"{rule.reason} (dataset rule)", rule.group if rule.role == "dce" else None)
    kinds = {v.upper() for v in series.image_type}
    if kinds & {"DERIVED", "SECONDARY"}:
        return Role("derived", f"ImageType {'/'.join(series.image_type)}", by="image_type")
    for rule in GENERIC_RULES:
        if rule.matches(description):
            return Role(rule.role, rule.reason, rule.group if rule.role == "dce" else None)
    if not description:
        return Role("other", "no SeriesDescription to decide from", by="default")
    return Role("other", "no rule matched the description", by="default")


def assign(study: Sequence[SeriesInfo], rules: Sequence[RoleRule] = ()) -> dict[str, Role]:
    """Roles of every series of one study (series UID → Role)."""
    roles = {s.series_uid: classify(s, rules) for s in study}
    by_description: dict[str, list[SeriesInfo]] = {}
    for s in study:
        by_description.setdefault(_norm(s.description), []).append(s)
    for s in study:  # "<X>: SER" names the acquisition X it was computed from
        match = DERIVED_MAP.match(" ".join((s.description or "").split()))
        if not match or roles[s.series_uid].role != "derived":
            continue
        for source in by_description.get(_norm(match.group("source")), []):
            if roles[source.series_uid].role != "seg":
                roles[source.series_uid] = Role(
                    "dce", f"source of the derived map '{s.description.strip()}'", 0, by="source"
                )
    groups = [r.group for r in roles.values() if r.role == "dce" and r.group is not None]
    if groups:
        chosen = min(groups)
        chosen_names = sorted(
            {
                _show(s.description)
                for s in study
                if roles[s.series_uid].role == "dce" and roles[s.series_uid].group == chosen
            }
        )
        for s in study:
            role = roles[s.series_uid]
            if role.role == "dce" and role.group != chosen:
                roles[s.series_uid] = Role(
                    "other",
                    f"another DCE acquisition of the study; its DCE is {', '.join(chosen_names[:3])}",
                    by="study",
                )
    return roles


def assign_all(series: Iterable[SeriesInfo], rules: Sequence[RoleRule] = ()) -> dict[str, Role]:
    """Roles of series from any number of studies."""
    studies: dict[str, list[SeriesInfo]] = {}
    for s in series:
        studies.setdefault(s.study_uid, []).append(s)
    out: dict[str, Role] = {}
    for study in studies.values():
        out.update(assign(study, rules))
    return out


def _norm(text: str | None) -> str:
    """A description for comparing names: case, repeated spaces and trailing punctuation ignored
    ('ACRIN_6657/FL3D_T1_SAG_CA_' and its maps' source 'ACRIN_6657/FL3D_T1_SAG_CA' are one acquisition)."""
    return " ".join((text or "").lower().split()).rstrip(" _-.")


def _show(text: str | None) -> str:
    return repr(" ".join((text or "").split())) if text else "(no description)"
