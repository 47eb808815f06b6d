"""`breastcurate scan-phi` and the pipeline's `check-shard`, `scan-global`, `checks`, `qc` and `qc-summary`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import Registry, add_scope, json_arg, scope_arg
from ..config import section
from ..errors import BreastcurateError
from ..layout import Layout, Scope


def _print_hits(hits) -> None:
    for hit in hits:
        print(f"PHI ({hit.kind}) {hit.masked!r} in {hit.path}")


def _scan_phi(args: argparse.Namespace) -> int:
    import json

    from ..atomic import write_bytes
    from . import phi_scan

    for raw in args.raw:
        if not Path(raw).exists():
            raise BreastcurateError(f"{raw} does not exist: --raw names the raw DICOM (a file or a folder)")
    if not Path(args.curated).is_dir():
        raise BreastcurateError(f"{args.curated} is not a folder: scan-phi scans a folder of curated files")
    if not any(p.is_file() for p in Path(args.curated).rglob("*")):
        raise BreastcurateError(f"{args.curated} holds no files to scan")
    terms = phi_scan.terms_from_raw([Path(r) for r in args.raw], args.workers)
    if not terms:  # a scan for nothing would pass whatever CURATED holds
        raise BreastcurateError(
            f"no PHI values found in the DICOM headers under {', '.join(args.raw)}: nothing to scan for"
        )
    hits, paths = phi_scan.scan([Path(args.curated)], Path(args.curated), terms, args.workers)
    _print_hits(hits)
    print(f"scan-phi: {len(hits)} hit(s) for {len(terms)} PHI values in {paths} paths under {args.curated}")
    if args.report and not hits:
        write_bytes(args.report, json.dumps(phi_scan.report(hits, len(terms), paths), indent=2).encode() + b"\n")
    return 1 if hits else 0


def _check_shard(args: argparse.Namespace) -> int:
    from .shard import check_shard

    options = section("checks", json_arg(args.options))
    summary = check_shard(
        Path(args.results),
        [Path(p) for p in args.folder],
        [Path(p) for p in args.table],
        Path(args.files),
        [Path(p) for p in args.terms],
        Path(args.out),
        bool(options["verify_sha256"]),
        args.workers,
    )
    print(
        f"{args.out}: {summary['files_verified']} files verified, {len(summary['problems'])} problems; "
        f"{summary['phi_scan']['paths_scanned']} paths scanned for {summary['phi_scan']['phi_values_searched']} "
        "PHI values, none found"
    )
    return 0


def _scan_global(args: argparse.Namespace) -> int:
    import json

    from ..atomic import write_bytes
    from . import phi_scan

    hits, terms, paths = phi_scan.scan_against_tables(
        [Path(p) for p in args.path], Layout(args.results).curated, [Path(p) for p in args.terms]
    )
    _print_hits(hits)
    if hits:
        raise BreastcurateError(f"PHI scan: {len(hits)} hit(s) in the files no shard owns (masked values above)")
    write_bytes(args.out, json.dumps(phi_scan.report(hits, terms, paths), indent=2).encode() + b"\n")
    print(f"scan-global: {paths} paths scanned for {terms} PHI values, none found")
    return 0


def _checks(args: argparse.Namespace) -> int:
    from .run import failure_text, run_checks
    from .semantic import CheckOptions, Evidence

    evidence = Evidence.read(
        [Path(p) for p in args.manifest], [Path(p) for p in args.shard], [Path(p) for p in args.scan]
    )
    options = CheckOptions.from_config(json_arg(args.options))
    summary = run_checks(Path(args.results), scope_arg(args), options, evidence)
    failed = sum(v["failed"] > 0 for v in summary["validations"])
    print(
        f"checks: {len(summary['validations'])} validations, {failed} failed; Data Docs at "
        f"{Path(args.results) / summary['data_docs']}"
    )
    if failed:
        print(failure_text(summary))
    return 0


def _checks_gate(args: argparse.Namespace) -> int:
    from .run import gate

    print(f"checks-gate: {gate(Path(args.results))} validations passed")
    return 0


def _qc(args: argparse.Namespace) -> int:
    from .qc import write_dataset_qc

    write_dataset_qc(Path(args.results), Scope((args.dataset,), args.n_shards), Path(args.out))
    print(f"qc {args.dataset}: figures and tables in {args.out}")
    return 0


def _qc_summary(args: argparse.Namespace) -> int:
    from .qc import write_summary_qc

    write_summary_qc(Path(args.summary), Path(args.out))
    print(f"qc: check results and tool versions in {args.out}")
    return 0


def register(registry: Registry) -> None:
    p = registry.add("scan-phi", "exit 1 if any PHI value of RAW's headers appears in CURATED (contents or names)")
    p.add_argument("--raw", required=True, action="append", help="the raw (identified) files (repeatable)")
    p.add_argument("curated", metavar="CURATED")
    p.add_argument("--report", help="on a clean scan, write a JSON summary (counts only) here")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.set_defaults(func=_scan_phi)

    p = registry.add("check-shard", "verify one shard's curated files and scan them for its PHI values", pipeline=True)
    p.add_argument("--results", required=True, help="results folder (the files table's paths are relative to it)")
    p.add_argument("--folder", action="append", required=True, help="a curated folder of the shard (repeatable)")
    p.add_argument("--table", action="append", default=[], help="a table part of the shard to scan (repeatable)")
    p.add_argument("--files", required=True, help="the shard's part of the files table")
    p.add_argument("--terms", action="append", required=True, help="a PHI value table (repeatable)")
    p.add_argument("--options", help="the checks keys it reads (verify_sha256) as JSON; the rest take their defaults")
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=_check_shard)

    p = registry.add("scan-global", "scan the files no shard owns for every shard's PHI values", pipeline=True)
    p.add_argument("--results", required=True)
    p.add_argument("--path", action="append", required=True, help="a file or folder to scan (repeatable)")
    p.add_argument("--terms", nargs="+", required=True, help="every PHI value table")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_scan_global)

    p = registry.add(
        "checks",
        "run the Great Expectations data checks over the tables into a summary (its verdict) and Data Docs",
        pipeline=True,
    )
    p.add_argument("--results", default="results")
    add_scope(p, versions=True)
    p.add_argument("--manifest", nargs="*", default=[], help="every dataset's inventory manifest")
    p.add_argument("--shard", nargs="*", default=[], help="every shard's check summary")
    p.add_argument("--scan", nargs="*", default=[], help="the global PHI scan's summary")
    p.add_argument("--options", help="the config's checks block as JSON")
    p.set_defaults(func=_checks)

    p = registry.add(
        "checks-gate", "exit 1 naming each failed check of the checks' summary; else write the pass mark", pipeline=True
    )
    p.add_argument("--results", required=True, help="results folder (its layout names the summary and the mark)")
    p.set_defaults(func=_checks_gate)

    p = registry.add("qc", "one dataset's figures and tables for `snakemake --report`", pipeline=True)
    p.add_argument("dataset")
    p.add_argument("--results", default="results")
    p.add_argument("--n-shards", type=int, required=True, help="the run's shard count")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_qc)

    p = registry.add("qc-summary", "check results and tool versions for `snakemake --report`", pipeline=True)
    p.add_argument("--summary", required=True, help="the checks' summary.json")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_qc_summary)
