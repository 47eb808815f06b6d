"""Build `results/catalog.duckdb`: one view per canonical table plus joined views, all on paths relative to the
results folder. DuckDB resolves relative paths against `file_search_path` (default: the working directory), so
`connect()` sets it to the catalog's own folder: the catalog keeps working when results/ is moved or copied."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from ..atomic import atomic_path
from ..errors import BreastcurateError
from ..tables import table_names, table_schema

JOINED_VIEWS = {
    "mammograms": """
        SELECT i.dataset, i.patient_id, p.person_id, i.study_uid, s.study_date, s.age_years, i.image_uid, i.variant,
               i.path, i.laterality, i.view, i.image_type, i.birads, i.density, i.official_split, i.rows, i.columns,
               i.pixel_spacing_mm, i.manufacturer, i.model, f.finding_id, f.roi, f.xmin, f.ymin, f.xmax, f.ymax, f.mask_path,
               f.category AS finding_category, f.birads AS finding_birads, f.pathology, i.license
        FROM images i
        JOIN patients p USING (dataset, patient_id)
        JOIN studies s USING (dataset, study_uid)
        LEFT JOIN findings f ON f.image_uid = i.image_uid AND f.variant = i.variant""",
    "mri_cases": """
        SELECT s.dataset, s.patient_id, p.person_id, s.study_uid, s.study_date, s.n_phases, s.manufacturer, s.model,
               s.field_strength_t,
               (SELECT list(v.phase ORDER BY v.acquisition_offset_s, v.phase) FROM volumes v
                 WHERE v.study_uid = s.study_uid) AS phases,
               (SELECT list(v.path ORDER BY v.acquisition_offset_s, v.phase) FROM volumes v
                 WHERE v.study_uid = s.study_uid) AS phase_paths,
               (SELECT list(f.mask_path ORDER BY f.roi) FROM findings f
                 WHERE f.study_uid = s.study_uid AND f.mask_path IS NOT NULL) AS mask_paths,
               c.er, c.pr, c.hr, c.her2, c.subtype, c.pcr, c.menopause, c.age_years, s.license
        FROM studies s
        JOIN patients p USING (dataset, patient_id)
        LEFT JOIN clinical c USING (dataset, patient_id)
        WHERE s.modality = 'MR'""",
}


def build_catalog(results: Path) -> Path:
    """(Re)create `<results>/catalog.duckdb` atomically."""
    results = Path(results)
    target = results / "catalog.duckdb"
    with atomic_path(target) as tmp:
        tmp.unlink()
        con = duckdb.connect(str(tmp), config={"file_search_path": str(results)})
        for name in table_names():
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet("
                f"'{table_schema(name).location}', hive_partitioning = false)"
            )
        for name, sql in JOINED_VIEWS.items():
            con.execute(f"CREATE VIEW {name} AS {sql}")
        con.close()
    return target


def connect(catalog: str | os.PathLike = "results/catalog.duckdb") -> duckdb.DuckDBPyConnection:
    """A read-only connection whose relative paths resolve against the catalog's folder."""
    catalog = Path(catalog)
    if not catalog.exists():
        raise BreastcurateError(f"no catalog at {catalog} (run the pipeline first)")
    return duckdb.connect(str(catalog), read_only=True, config={"file_search_path": str(catalog.resolve().parent)})
