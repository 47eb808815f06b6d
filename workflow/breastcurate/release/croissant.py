"""`croissant.json` of a release: an MLCommons Croissant 1.0 card with its Responsible-AI fields, built with
mlcroissant. It carries each dataset's licence and whether its images are included, the de-identification method,
how labels were harmonized, the splits and every table as record sets (fields from `schemas/tables`), and the sha256
of every file: tables and the other release files as FileObjects, images, volumes and masks through the `files`
record set (each curated file's sha256)."""

from __future__ import annotations

import json

import mlcroissant as mlc

from ..tables import table_schema

#: The schemas' column types (tables.ARROW_TYPES) → Croissant data types.
DATA_TYPES = {
    "string": mlc.DataType.TEXT,
    "int32": mlc.DataType.INTEGER,
    "int64": mlc.DataType.INTEGER,
    "float64": mlc.DataType.FLOAT,
    "bool": mlc.DataType.BOOL,
    "date": mlc.DataType.DATE,
}
IMAGE_FOLDERS = ("curated/images", "curated/volumes", "curated/masks")
DEID = (
    "DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile, action by action from the standard's "
    "table E.1-1, with the options Retain Longitudinal Temporal Information with Modified Dates, Retain Patient "
    "Characteristics, Clean Descriptors and Retain Safe Private; patient ids replaced by keyed pseudonyms (HMAC), "
    "UIDs by 2.25 UIDs, dates shifted per patient; images with burned-in annotation quarantined; every curated file "
    "scanned for the values removed. The linkage to native ids stays in the pipeline's restricted area."
)
HARMONIZATION = (
    "Each dataset's native labels are mapped by its adapter's code maps into one vocabulary (schemas/tables): "
    "BI-RADS 0-6 and density A-D per image, finding categories and pathology per box, ER/PR/HR/HER2/subtype/pCR per "
    "patient; every harmonized column keeps the source value in a `<column>_native` twin, and mapping choices are "
    "written in the column descriptions (e.g. Duke pCR counts DCIS-only and LCIS-only as pCR). Boxes are in each "
    "image variant's pixel grid; MRI masks in the grid of the pre-contrast phase."
)


def _fields(table: str, source: mlc.FileSet | mlc.FileObject) -> list[mlc.Field]:
    schema = table_schema(table)
    return [
        mlc.Field(
            id=f"{table}/{c.name}",
            name=c.name,
            description=c.description,
            data_types=[DATA_TYPES[c.type]],
            source=mlc.Source(file_set=source.id, extract=mlc.Extract(column=c.name))
            if isinstance(source, mlc.FileSet)
            else mlc.Source(file_object=source.id, extract=mlc.Extract(column=c.name)),
        )
        for c in schema.columns
    ]


def croissant(version: str, meta: dict, rows: list[dict], tables: list[str]) -> bytes:
    """The card of a release from its metadata (`release.json`), its files (path, bytes, sha256, kind, included)
    and the tables it holds."""
    files = {r["path"]: r for r in rows}
    distribution: list[mlc.FileObject | mlc.FileSet] = []
    for path in sorted(p for p, r in files.items() if r["kind"] != "image" and not p.startswith("splits/")):
        distribution.append(
            mlc.FileObject(
                id=path,
                name=path,
                content_url=path,
                content_size=f"{files[path]['bytes']} B",
                encoding_formats=["application/x-parquet" if path.endswith(".parquet") else _format(path)],
                sha256=files[path]["sha256"],
            )
        )
    record_sets = []
    for table in tables:
        fileset = mlc.FileSet(
            id=f"{table}-files",
            name=f"{table}-files",
            encoding_formats=["application/x-parquet"],
            includes=[f"tables/{table}/*/*.parquet"],
        )
        distribution.append(fileset)
        record_sets.append(
            mlc.RecordSet(
                id=table, name=table, description=table_schema(table).description, fields=_fields(table, fileset)
            )
        )
    by_split = mlc.FileSet(
        id="splits-by-split",
        name="splits-by-split",
        description=f"The frozen assignment `{version}` (splits.parquet), one partition per split.",
        encoding_formats=["application/x-parquet"],
        includes=["splits/*/part-0.parquet"],
    )
    distribution.append(by_split)
    record_sets.append(
        mlc.RecordSet(
            id="splits",
            name="splits",
            description=(
                f"The frozen patient-level split `{version}`; `records('splits', filters={{'splits/split': 'train'}})`"
                " reads one split."
            ),
            fields=[
                mlc.Field(
                    id="splits/split",
                    name="split",
                    description="train, val or test (the partition the row is in)",
                    data_types=[mlc.DataType.TEXT],
                    source=mlc.Source(
                        file_set=by_split.id,
                        extract=mlc.Extract(file_property=mlc.FileProperty.fullpath),
                        transforms=[mlc.Transform(regex=r"^.*splits/split=([a-z]+)/part-0\.parquet$")],
                    ),
                ),
                *[f for f in _fields("splits", by_split) if f.name != "split"],
            ],
        )
    )
    for dataset, info in meta["datasets"].items():
        if info["images_included"]:
            distribution.append(
                mlc.FileSet(
                    id=f"{dataset}-images",
                    name=f"{dataset}-images",
                    description=f"{dataset}'s images, volumes and masks; each file's sha256 is in the files record set",
                    encoding_formats=["image/png", "application/gzip"],
                    includes=[f"{folder}/{dataset}/**/*" for folder in IMAGE_FOLDERS],
                )
            )
    record_sets.append(
        mlc.RecordSet(
            id="datasets",
            name="datasets",
            description="Each dataset's licence and whether this release includes its images.",
            key=["datasets/dataset"],
            fields=[
                mlc.Field(id="datasets/dataset", name="dataset", data_types=[mlc.DataType.TEXT]),
                mlc.Field(id="datasets/license", name="license", data_types=[mlc.DataType.TEXT]),
                mlc.Field(id="datasets/images_included", name="images_included", data_types=[mlc.DataType.BOOL]),
            ],
            data=[
                {
                    "datasets/dataset": dataset,
                    "datasets/license": info["license"],
                    "datasets/images_included": info["images_included"],
                }
                for dataset, info in meta["datasets"].items()
            ],
        )
    )
    licences = "; ".join(
        f"{d}: {i['license']} ({'images included' if i['images_included'] else 'tables and checksums only'})"
        for d, i in meta["datasets"].items()
    )
    metadata = mlc.Metadata(
        name=f"breastcurate-{version}",
        description=(
            f"breastcurate release {version}: harmonized, de-identified breast imaging tables and a frozen "
            f"patient-level split. Licences per dataset — {licences}."
        ),
        version=_semver(version),
        license=sorted({i["license"] for i in meta["datasets"].values()}),
        url="https://github.com/breastcurate/breastcurate",
        cite_as="Cite each source dataset (README.md lists them); breastcurate " + str(meta["package_version"]),
        distribution=distribution,
        record_sets=record_sets,
        data_collection=(
            "Public breast imaging collections as their publishers release them (VinDr-Mammo on PhysioNet, EMBED on "
            "AWS, Duke-Breast-Cancer-MRI, I-SPY1, I-SPY2/ACRIN-6698 and CBIS-DDSM on TCIA and NCI Imaging Data "
            "Commons), curated by the breastcurate pipeline."
        ),
        data_preprocessing_protocol=[
            DEID,
            "Mammograms to 16-bit PNG (MONOCHROME1 inverted, no windowing in the canonical image; 8-bit VOI "
            "variants on the side); DCE-MRI series to one NIfTI per phase; SEG and box annotations to masks.",
        ],
        data_annotation_protocol=HARMONIZATION,
        personal_sensitive_information=(
            "No protected health information: de-identified as above and scanned; patients appear under keyed "
            "pseudonyms only. Age, sex and race/ethnicity where the source publishes them (patients table)."
        ),
        data_limitations=(
            "Labels come from each source's own annotation protocol and are harmonized, not re-read; coverage of "
            "every join is in the coverage table. Images of VinDr-Mammo and EMBED are not redistributed."
        ),
        data_biases=(
            "Each source reflects its population and scanners (Vietnam; Atlanta, USA; Durham, USA; the I-SPY trial "
            "sites; digitized film for CBIS-DDSM); see each dataset's publication."
        ),
        data_use_cases="Training and evaluating breast imaging models with patient-level splits that do not leak.",
    )
    card = metadata.to_json()
    return json.dumps(card, indent=1, sort_keys=True, default=str).encode() + b"\n"


def _format(path: str) -> str:
    return {".json": "application/json", ".md": "text/markdown", ".sql": "application/sql"}.get(
        path[path.rfind(".") :], "application/octet-stream"
    )


def _semver(version: str) -> str:
    """Croissant wants MAJOR.MINOR.PATCH: `v1` → 1.0.0, `2.1` → 2.1.0; other names become 0.0.0 (the name stays
    in `name`)."""
    digits = version.lstrip("vV").split(".")
    if all(d.isdigit() for d in digits) and 1 <= len(digits) <= 3:
        return ".".join(digits + ["0"] * (3 - len(digits)))
    return "0.0.0"
