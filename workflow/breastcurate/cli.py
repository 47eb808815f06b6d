"""The `breastcurate` command: one subcommand per stage; Snakemake rules call the same functions."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__


def _demo_data(args: argparse.Namespace) -> int:
    from .demo.mirror import write_mirror
    from .sources import adapters

    datasets = args.dataset or sorted(adapters())
    for dataset in datasets:
        target = write_mirror(Path(args.out), dataset, args.patients, args.seed)
        print(f"{dataset}: demo mirror with {args.patients} patients at {target}")
    return 0


def _download_target(args: argparse.Namespace) -> tuple[dict, Path]:
    """The dataset's config block and the results folder, from --settings/--results (pipeline) or --config."""
    import json

    from .config import load_config

    if args.settings:
        return json.loads(args.settings), Path(args.results or "results")
    config = load_config(args.config)
    if args.dataset not in config["datasets"]:
        raise ValueError(f"{args.dataset} is not configured in {args.config or 'config/config.yaml'}")
    return config["datasets"][args.dataset], Path(args.results or config["results_dir"])


def _download(args: argparse.Namespace) -> int:
    from .acquire.run import download

    block, results = _download_target(args)
    counts = download(args.dataset, block, results, args.quiet)
    print(f"{args.dataset}: {counts['items']} {counts['unit']} complete ({counts['fetched']} fetched, "
          f"{counts['skipped']} already verified), {counts['files']} files; "
          f"{counts['supplementary_fetched']} supplementary files fetched")
    return 0


def _plan_download(args: argparse.Namespace) -> int:
    from .acquire.run import plan

    block, results = _download_target(args)
    p = plan(args.dataset, block, results)
    print(f"{args.dataset}: {p['items']} {p['unit']}, {p['files']} files, {p['bytes']} bytes "
          f"({p['bytes'] / 1e9:.2f} GB) in total")
    print(f"to fetch: {p['todo_items']} {p['unit']}, {p['todo_files']} files, {p['todo_bytes']} bytes "
          f"({p['todo_bytes'] / 1e9:.2f} GB), and {p['todo_supplementary']} of {p['supplementary']} supplementary files")
    return 0


def _inventory(args: argparse.Namespace) -> int:
    from .inventory import build_inventory

    import json

    manifest = build_inventory(args.dataset, Path(args.root), Path(args.out), args.n_shards, args.salt,
                               args.workers, json.loads(args.select) if args.select else None)
    print(f"{args.dataset}: {manifest['files']} files in {args.n_shards} shards, {manifest['rejects']} rejected")
    return 0


def _secret(args: argparse.Namespace) -> bytes:
    from .deid.keys import load_secret

    key = load_secret(args.secret_file, allow_demo=args.demo_key)
    if args.demo_key and not args.secret_file:
        print("note: using the public demo key; pseudonyms are not secret (fine for the demo data only)",
              file=sys.stderr)
    return key


def _deidentify(args: argparse.Namespace) -> int:
    from .deid.profile import options_from_config
    from .deid.run import deidentify_folder

    restricted = Path(args.restricted) if args.restricted else Path(f"{Path(args.out).resolve()}-restricted")
    result = deidentify_folder(Path(args.input), Path(args.out), restricted, _secret(args),
                               options_from_config(_option_flags(args)), args.source)
    written = len({r["file"] for r in result.audit})
    print(f"de-identified {written} files into {args.out}; {len(result.quarantine)} quarantined, "
          f"{len(result.rejects)} rejected; audit and linkage in {restricted}")
    return 0


def _deidentify_shard(args: argparse.Namespace) -> int:
    from .deid.profile import options_from_config
    from .deid.run import deidentify_shard

    result = deidentify_shard(args.dataset, Path(args.inventory), Path(args.raw), Path(args.out), _secret(args),
                              options_from_config(_option_flags(args)))
    print(f"{args.dataset}: {len({r['file'] for r in result.audit})} files de-identified, "
          f"{len(result.quarantine)} quarantined, {len(result.rejects)} rejected")
    return 0


def _option_flags(args: argparse.Namespace) -> dict[str, bool]:
    flags = {name: True for name in args.option or []}
    flags.update({name: False for name in args.no_option or []})
    return flags


def _scan_phi(args: argparse.Namespace) -> int:
    from .deid.phi_scan import scan

    hits, terms, paths = scan([Path(r) for r in args.raw], Path(args.curated), args.workers)
    for hit in hits:
        print(f"PHI ({hit.kind}) {hit.masked!r} in {hit.path}")
    print(f"scan-phi: {len(hits)} hit(s) for {terms} PHI values in {paths} paths under {args.curated}")
    if args.report and not hits:
        import json

        from .atomic import write_bytes

        summary = {"hits": 0, "phi_values_searched": terms, "paths_scanned": paths}
        write_bytes(args.report, json.dumps(summary, indent=2, sort_keys=True).encode() + b"\n")
    return 1 if hits else 0


def _convert_options(args: argparse.Namespace):
    import json

    from .convert.run import ConvertOptions

    block = json.loads(args.options) if getattr(args, "options", None) else {}
    for text in getattr(args, "variant", None) or []:
        fields = dict(part.split("=", 1) if "=" in part else (part, "1") for part in text.split(","))
        if "name" not in fields:
            raise ValueError(f"--variant {text!r} needs name=…")
        block.setdefault("mammo_variants", []).append({
            "name": fields["name"], "bits": int(fields.get("bits", 16)), "voi": fields.get("voi", "0") == "1",
            "long_side": int(fields["long_side"]) if "long_side" in fields else None, "flip_to": fields.get("flip_to")})
    return ConvertOptions.from_config(block, getattr(args, "threads", 1))


def _report_rejects(out) -> int:
    for line in out.skipped:
        print(f"skipped {line}", file=sys.stderr)
    for row in out.rows["rejects"]:
        print(f"rejected {row['path']}: {row['reason']}", file=sys.stderr)
    return 1 if out.rows["rejects"] else 0


def _to_png(args: argparse.Namespace) -> int:
    from .convert.run import to_png

    out = to_png([Path(f) for f in args.files], Path(args.out), _convert_options(args))
    print(f"to-png: {len(out.rows['images'])} PNG written to {args.out}, {len(out.rows['rejects'])} rejected")
    return _report_rejects(out)


def _to_nifti(args: argparse.Namespace) -> int:
    from .convert.run import to_nifti

    out = to_nifti(Path(args.input), Path(args.out), _convert_options(args))
    print(f"to-nifti: {len(out.rows['volumes'])} volumes and {len(out.rows['findings'])} masks written to "
          f"{args.out}, {len(out.rows['rejects'])} files rejected")
    return _report_rejects(out)


def _convert_shard(args: argparse.Namespace) -> int:
    from .convert.run import convert_shard

    out = convert_shard(args.dataset, Path(args.deid), Path(args.raw), Path(args.results), Path(args.out),
                        _convert_options(args))
    print(f"{args.dataset}: {len(out.rows['images'])} images, {len(out.rows['volumes'])} volumes, "
          f"{len(out.rows['findings'])} findings, {len(out.rows['rejects'])} rejected")
    return 0


def _link_people(args: argparse.Namespace) -> int:
    from .harmonize.people import link_people

    people = link_people([Path(f) for f in args.linkage], Path(args.out))
    print(f"link-people: {people.person_id.nunique()} people, {int(people.in_other_datasets.sum())} patients "
          "also in another dataset")
    return 0


def _harmonize(args: argparse.Namespace) -> int:
    from .harmonize.run import harmonize_dataset

    counts = harmonize_dataset(args.dataset, Path(args.results), Path(args.raw), args.n_shards, Path(args.people),
                               _secret(args))
    print(f"{args.dataset}: " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())))
    return 0


def _catalog(args: argparse.Namespace) -> int:
    from .catalog.build import build_catalog

    print(f"catalog: {build_catalog(Path(args.results))}")
    return 0


def _query(args: argparse.Namespace) -> int:
    from .catalog.build import connect

    con = connect(args.catalog)
    relation = con.sql(args.sql)
    if args.format == "parquet":
        if not args.out:
            raise ValueError("--format parquet needs --out FILE")
        relation.write_parquet(args.out, compression="zstd")
    elif args.format == "csv" and args.out:
        relation.write_csv(args.out, header=True)
    elif args.format == "csv":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            relation.write_csv(f"{tmp}/out.csv", header=True)
            sys.stdout.write(Path(f"{tmp}/out.csv").read_text())
    else:
        frame = relation.df()
        for column in frame.columns[frame.dtypes == object]:
            frame[column] = [list(v) if hasattr(v, "tolist") and not isinstance(v, str) else v for v in frame[column]]
        text = frame.to_string(index=False) + "\n"
        Path(args.out).write_text(text) if args.out else sys.stdout.write(text)
    return 0


def _splits(args: argparse.Namespace) -> int:
    from .splits.assign import build_splits

    for version, frame in build_splits(Path(args.results), Path(args.versions)).items():
        counts = frame.drop_duplicates("person_id").split.value_counts().to_dict()
        print(f"split {version}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("train", "val", "test")) +
              " people")
    return 0


def _release(args: argparse.Namespace) -> int:
    import yaml

    from .release.build import release

    config = yaml.safe_load(Path(args.config).read_text()) or {}
    include = bool((config.get("release") or {}).get("include_restricted_images", False))
    versions = Path(args.versions or config.get("splits_file") or "config/splits.yaml")
    folder, written = release(args.version, Path(args.results), Path(args.config), versions, include)
    print(f"release {args.version}: {'written to' if written else 'already released, identical, at'} {folder}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from .release.pull import pull

    counts = pull(args.source, args.version, Path(args.to), args.split, args.dataset)
    print(f"pull {args.version}: {counts['fetched']} files fetched ({counts['bytes']} bytes), "
          f"{counts['verified']} already present and verified, into {args.to}")
    return 0


def _radiomics(args: argparse.Namespace) -> int:
    from .radiomics.run import radiomics_files

    n = radiomics_files(Path(args.image), Path(args.mask), Path(args.params), Path(args.out))
    print(f"radiomics: {n} features written to {args.out}")
    return 0


def _radiomics_shard(args: argparse.Namespace) -> int:
    from .radiomics.run import radiomics_shard

    rows, rejects = radiomics_shard(args.dataset, Path(args.results), args.shard,
                                    {"MR": Path(args.params_mr), "MG": Path(args.params_mg)}, args.phase,
                                    args.threads)
    print(f"{args.dataset} shard {args.shard}: {rows} feature values, {rejects} ROIs rejected")
    return 0


def _checks(args: argparse.Namespace) -> int:
    import json

    from .checks.run import ChecksFailed, run_checks
    from .checks.semantic import CheckOptions

    options = CheckOptions.from_config(json.loads(args.options) if args.options else None)
    try:
        summary = run_checks(Path(args.results), options, Path(args.out))
    except ChecksFailed as exc:
        print(f"breastcurate checks: {exc}", file=sys.stderr)
        return 1
    print(f"checks: {len(summary['validations'])} validations passed; Data Docs at "
          f"{Path(args.results) / summary['data_docs']}")
    return 0


def _qc(args: argparse.Namespace) -> int:
    from .checks.qc import write_qc

    write_qc(Path(args.results), Path(args.out), args.dataset)
    print(f"qc: figures and tables in {args.out}")
    return 0


def _data_dictionary(args: argparse.Namespace) -> int:
    from .atomic import write_bytes
    from .tables import data_dictionary

    write_bytes(args.out, data_dictionary().encode())
    print(f"data dictionary written to {args.out}")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from .config import load_config

    load_config(args.config)
    print(f"{args.config}: valid")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breastcurate", description=__doc__)
    parser.add_argument("--version", action="version", version=f"breastcurate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-data", help="write synthetic native-layout mirrors of the datasets")
    p.add_argument("--out", required=True, help="folder that receives one sub-folder per dataset")
    p.add_argument("--patients", type=int, default=6, help="patients per dataset (default 6)")
    p.add_argument("--seed", type=int, default=20261128, help="random seed (default 20261128)")
    p.add_argument("--dataset", action="append", help="only this dataset (repeatable; default all)")
    p.set_defaults(func=_demo_data)

    for name, func, text in (("download", _download, "fetch a dataset's native mirror (resumable, verified)"),
                             ("plan-download", _plan_download, "print the series, files and bytes a download "
                                                              "would fetch, fetching nothing")):
        p = sub.add_parser(name, help=text)
        p.add_argument("dataset")
        p.add_argument("--config", help="pipeline config (default config/config.yaml)")
        p.add_argument("--results", help="results folder (default: the config's results_dir)")
        p.add_argument("--settings", help=argparse.SUPPRESS)  # (pipeline) the dataset's config block as JSON
        p.set_defaults(func=func)
        if name == "download":
            p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("inventory", help="list a mirror's DICOM files into restricted inventory shards")
    p.add_argument("dataset")
    p.add_argument("root", help="root of the dataset's native mirror")
    p.add_argument("--out", required=True, help="inventory folder of the dataset")
    p.add_argument("--n-shards", type=int, required=True)
    p.add_argument("--salt", default="breastcurate-shard-v1")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--select", help="the dataset's select block as JSON (MG image types, spot views)")
    p.set_defaults(func=_inventory)

    def deid_common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--secret-file", help="pseudonymization key file (else $BREASTCURATE_SECRET)")
        p.add_argument("--demo-key", action="store_true", help="allow the public demo key (demo data only)")
        p.add_argument("--option", action="append", help="enable a PS3.15 option (e.g. retain_uids)")
        p.add_argument("--no-option", action="append", help="disable a default option (e.g. clean_descriptors)")

    p = sub.add_parser("deidentify", help="de-identify a folder of DICOM (PS3.15 Annex E) into OUT")
    p.add_argument("input", metavar="IN")
    p.add_argument("out", metavar="OUT", help="folder meant to be shared: no PHI, no audit or linkage")
    p.add_argument("--restricted", help="where audit, linkage and quarantine go (default: OUT-restricted)")
    p.add_argument("--source", default="folder", help="dataset key (selects its known descriptions)")
    deid_common(p)
    p.set_defaults(func=_deidentify)

    p = sub.add_parser("deidentify-shard", help="(pipeline) de-identify one inventory shard")
    p.add_argument("dataset")
    p.add_argument("--inventory", required=True)
    p.add_argument("--raw", required=True)
    p.add_argument("--out", required=True)
    deid_common(p)
    p.set_defaults(func=_deidentify_shard)

    p = sub.add_parser("scan-phi", help="exit 1 if any PHI value of RAW appears in CURATED (contents or names)")
    p.add_argument("--raw", required=True, action="append", help="the raw (identified) files (repeatable)")
    p.add_argument("curated", metavar="CURATED")
    p.add_argument("--report", help="on a clean scan, write a JSON summary (counts only) here")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.set_defaults(func=_scan_phi)

    p = sub.add_parser("to-png", help="mammograms → canonical 16-bit PNG (+ configured variants) and JSON metadata")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--out", required=True)
    p.add_argument("--variant", action="append",
                   help="extra derived image, e.g. name=small,bits=8,voi=1,long_side=1024,flip_to=L (repeatable)")
    p.set_defaults(func=_to_png)

    p = sub.add_parser("to-nifti", help="MR DICOM folder → one NIfTI per DCE phase (+ JSON sidecar, SEG masks)")
    p.add_argument("input", metavar="DIR")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="compression threads (default: all)")
    p.set_defaults(func=_to_nifti)

    p = sub.add_parser("convert-shard", help="(pipeline) convert one de-identified shard into curated files")
    p.add_argument("dataset")
    p.add_argument("--deid", required=True, help="the shard's de-identification folder")
    p.add_argument("--raw", required=True, help="the dataset's native mirror (annotation tables)")
    p.add_argument("--results", required=True, help="results folder (curated files go under its curated/)")
    p.add_argument("--out", required=True, help="folder for the shard's tables (restricted)")
    p.add_argument("--options", help="the config's convert block as JSON")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_convert_shard)

    p = sub.add_parser("link-people", help="(pipeline) one person id across datasets, from the linkage tables")
    p.add_argument("linkage", nargs="+", help="restricted linkage.parquet files of every dataset and shard")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_link_people)

    p = sub.add_parser("harmonize", help="(pipeline) canonical tables of one dataset")
    p.add_argument("dataset")
    p.add_argument("--results", required=True)
    p.add_argument("--raw", required=True, help="the dataset's native mirror (label tables)")
    p.add_argument("--n-shards", type=int, required=True)
    p.add_argument("--people", required=True, help="the link-people table")
    p.add_argument("--secret-file", help="pseudonymization key file (pseudonyms of unmatched table rows)")
    p.add_argument("--demo-key", action="store_true", help="allow the public demo key (demo data only)")
    p.set_defaults(func=_harmonize)

    p = sub.add_parser("catalog", help="(pipeline) build results/catalog.duckdb over the canonical tables")
    p.add_argument("--results", default="results")
    p.set_defaults(func=_catalog)

    p = sub.add_parser("query", help="run SQL against the catalog (views: " +
                       "patients, studies, images, volumes, findings, clinical, files, rejects, mammograms, "
                       "mri_cases)")
    p.add_argument("sql", metavar="SQL")
    p.add_argument("--catalog", default="results/catalog.duckdb")
    p.add_argument("--format", choices=["table", "csv", "parquet"], default="table")
    p.add_argument("--out", help="write here instead of standard output (required for parquet)")
    p.set_defaults(func=_query)

    p = sub.add_parser("splits", help="(pipeline) assign patients to train/val/test for every split version")
    p.add_argument("--results", default="results")
    p.add_argument("--versions", default="config/splits.yaml")
    p.set_defaults(func=_splits)

    p = sub.add_parser("release", help="freeze split VERSION and write results/releases/VERSION/")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--results", default="results")
    p.add_argument("--config", default="config/config.yaml", help="the pipeline config (hashed into the card)")
    p.add_argument("--versions", help="split versions file (default: the config's splits_file)")
    p.set_defaults(func=_release)

    p = sub.add_parser("pull", help="fetch a release: verified, resumable, optionally one split or dataset")
    p.add_argument("--from", dest="source", required=True,
                   help="the releases root (holding VERSION/): a folder, http(s):// URL or s3:// URL")
    p.add_argument("--version", required=True)
    p.add_argument("--split", choices=["train", "val", "test"])
    p.add_argument("--dataset")
    p.add_argument("--to", required=True)
    p.set_defaults(func=_pull)

    p = sub.add_parser("radiomics", help="pyradiomics features of IMAGE inside MASK (long table, Parquet)")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("mask", metavar="MASK")
    p.add_argument("--params", required=True, help="pyradiomics parameter file (YAML)")
    p.add_argument("--out", required=True, help="FILE.parquet")
    p.set_defaults(func=_radiomics)

    p = sub.add_parser("radiomics-shard", help="(pipeline) features of every ROI of one shard")
    p.add_argument("dataset")
    p.add_argument("--results", required=True)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--params-mr", required=True)
    p.add_argument("--params-mg", required=True)
    p.add_argument("--phase", action="append", required=True, help="MRI phase to use (repeatable)")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_radiomics_shard)

    p = sub.add_parser("checks", help="run the Great Expectations data checks; exit 1 with a summary on failure")
    p.add_argument("--results", default="results")
    p.add_argument("--out", required=True, help="JSON written when every check passes")
    p.add_argument("--options", help="the config's checks block as JSON")
    p.set_defaults(func=_checks)

    p = sub.add_parser("qc", help="(pipeline) figures and tables for `snakemake --report`")
    p.add_argument("--results", default="results")
    p.add_argument("--out", required=True)
    p.add_argument("--dataset", action="append", required=True)
    p.set_defaults(func=_qc)

    p = sub.add_parser("data-dictionary", help="write the catalog's data dictionary (Markdown) from schemas/tables")
    p.add_argument("--out", default="docs/catalog.md")
    p.set_defaults(func=_data_dictionary)

    p = sub.add_parser("check-config", help="validate a config file against schemas/config.schema.yaml")
    p.add_argument("config")
    p.set_defaults(func=_check_config)
    return parser


def duckdb_error() -> type[Exception]:
    """DuckDB's error base class when duckdb is already imported (a bad query is a user error, not a crash)."""
    module = sys.modules.get("duckdb")
    return module.Error if module else ValueError


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, OSError, RuntimeError, duckdb_error()) as exc:
        print(f"breastcurate {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
