"""Build `results/catalog.duckdb`: every canonical table copied into the database file, plus joined views. The file
needs nothing beside it, so any DuckDB client opens it from any folder, and it keeps working when results/ is moved or
copied; curated file paths in the tables stay relative to the results folder."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from ..atomic import atomic_path
from ..errors import BreastcurateError
from ..layout import Layout, Scope
from ..tables import table_names, table_schema

JOINED_VIEWS = {
    "mammograms": """
        SELECT i.dataset, i.patient_id, p.person_id, i.exam_id, i.breast_id, i.study_uid, s.study_date, s.age_years,
               i.image_uid, i.variant, i.path, i.laterality, i.view, i.image_type, i.birads, i.density,
               b.outcome AS breast_outcome, b.outcome_evidence, i.official_split, i.rows, i.columns,
               i.pixel_spacing_mm, i.manufacturer, i.model, f.finding_id, f.roi, f.xmin, f.ymin, f.xmax, f.ymax, f.mask_path,
               f.category AS finding_category, f.birads AS finding_birads, f.pathology, i.license
        FROM images i
        JOIN patients p USING (dataset, patient_id)
        JOIN studies s USING (dataset, study_uid)
        LEFT JOIN breasts b ON b.breast_id = i.breast_id
        LEFT JOIN findings f ON f.image_uid = i.image_uid AND f.variant = i.variant""",
    "mri_cases": """
        SELECT s.dataset, s.patient_id, p.person_id, e.exam_id, s.study_uid, s.study_date, e.visit, e.visit_label,
               e.exam_day, e.prior_exam_id, s.n_phases, s.manufacturer, s.model, s.field_strength_t,
               (SELECT list(v.phase ORDER BY v.acquisition_offset_s, v.phase) FROM volumes v
                 WHERE v.study_uid = s.study_uid) AS phases,
               (SELECT list(v.path ORDER BY v.acquisition_offset_s, v.phase) FROM volumes v
                 WHERE v.study_uid = s.study_uid) AS phase_paths,
               (SELECT list(f.mask_path ORDER BY f.roi) FROM findings f
                 WHERE f.study_uid = s.study_uid AND f.mask_path IS NOT NULL) AS mask_paths,
               c.er, c.pr, c.hr, c.her2, c.subtype, c.pcr, c.menopause, c.tumor_side, c.age_years, s.license
        FROM studies s
        JOIN patients p USING (dataset, patient_id)
        LEFT JOIN clinical c USING (dataset, patient_id)
        LEFT JOIN (SELECT DISTINCT study_uid, exam_id FROM volumes) ve ON ve.study_uid = s.study_uid
        LEFT JOIN exams e ON e.exam_id = ve.exam_id
        WHERE s.modality = 'MR'""",
}

#: What each joined view is, for the data dictionary.
VIEW_DESCRIPTIONS = {
    "mammograms": "One row per mammogram (every variant) and box, with the patient, the exam, the study, the breast- and "
    "finding-level labels and the breast's outcome (breasts); an image without findings has one row with null finding columns. Datasets: VinDr-Mammo, "
    "EMBED, CBIS-DDSM.",
    "mri_cases": "One row per MRI study with its phases and their files in acquisition order, its lesion masks and "
    "the patient's clinical labels. Datasets: Duke, I-SPY1, I-SPY2.",
}
#: Table aliases of the views' SQL.
_ALIASES = {
    "i": "images",
    "p": "patients",
    "s": "studies",
    "f": "findings",
    "c": "clinical",
    "v": "volumes",
    "e": "exams",
    "b": "breasts",
}


def _select_items(sql: str) -> list[str]:
    """The items of a view's outermost SELECT list."""
    body = sql.split("SELECT", 1)[1]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and (ch == "," or body.startswith("\n        FROM", i)):
            items.append(" ".join(body[start:i].split()))
            start = i + 1
            if ch != ",":
                break
    return items


def views_dictionary() -> str:
    """Markdown of the joined views: each column's type (from DuckDB over the empty tables) and where it comes from,
    with that column's description."""
    con = duckdb.connect()
    fill_catalog(con, {name: [] for name in table_names()})
    lines = ["# Joined views", ""]
    for view, sql in JOINED_VIEWS.items():
        types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {view})").fetchall())
        lines += [
            f"## `{view}`",
            "",
            VIEW_DESCRIPTIONS[view],
            "",
            "| column | type | from | description |",
            "|---|---|---|---|",
        ]
        for item in _select_items(sql):
            name = item.rsplit(" AS ", 1)[-1] if " AS " in item else item.split(".")[-1]
            listed = item.startswith("(SELECT list(")
            alias, column = (item[len("(SELECT list(") :] if listed else item).split(" ")[0].split(".")
            column = column.rstrip(",)")
            source = table_schema(_ALIASES[alias])
            described = next(c.description for c in source.columns if c.name == column)
            origin = f"`{source.name}.{column}`"
            if listed:
                origin = f"list of {origin} of the study"
            desc = described.replace("|", "\\|")
            lines.append(f"| `{name}` | {types[name]} | {origin} | {desc} |")
        lines.append("")
    return "\n".join(lines)


#: The oldest DuckDB that must open a catalog: files are written in its storage format (DuckDB ≥ 1.0 reads them).
STORAGE_VERSION = "v1.0.0"


def new_database(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is a new file at `path`, in the storage format of STORAGE_VERSION."""
    con = duckdb.connect()
    quoted = str(path).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS catalog (STORAGE_VERSION '{STORAGE_VERSION}')")
    con.execute("USE catalog")
    return con


def fill_catalog(con: duckdb.DuckDBPyConnection, sources: dict[str, list[Path]]) -> None:
    """Copy each table's Parquet files (table → its files) into `con`'s database, a table without files as an empty
    table in its schema; then create the joined views."""
    for name, files in sources.items():
        if files:
            listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet([{listed}], hive_partitioning = false)")
        else:
            con.register("empty_part", table_schema(name).arrow.empty_table())
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM empty_part")
            con.unregister("empty_part")
    for name, sql in JOINED_VIEWS.items():
        con.execute(f"CREATE VIEW {name} AS {sql}")
    con.execute("CHECKPOINT")


def build_catalog(layout: Layout, scope: Scope) -> Path:
    """(Re)create the catalog atomically from exactly the Parquet parts of `scope` (every one must exist)."""
    target = layout.catalog
    sources = {name: layout.parts(name, scope) for name in table_names()}
    missing = [str(p) for files in sources.values() for p in files if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} declared part(s) missing, e.g. {missing[0]}")
    with atomic_path(target) as tmp:
        tmp.unlink()
        con = new_database(tmp)
        fill_catalog(con, sources)
        con.close()
    return target


def connect(catalog: str | os.PathLike = "results/catalog.duckdb") -> duckdb.DuckDBPyConnection:
    """A read-only connection to a catalog."""
    catalog = Path(catalog)
    if not catalog.exists():
        raise BreastcurateError(f"no catalog at {catalog} (run the pipeline first)")
    return duckdb.connect(str(catalog), read_only=True)
