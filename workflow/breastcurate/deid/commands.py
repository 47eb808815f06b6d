"""`breastcurate deidentify` and the pipeline's `deidentify-shard` and `merge-phi-terms`; the key options that
harmonization shares."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..commands import Registry
from ..errors import BreastcurateError


def add_key_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--secret-file", help="pseudonymization key file (else $BREASTCURATE_SECRET)")
    p.add_argument("--demo-key", action="store_true", help="allow the public demo key (demo data only)")


def secret(args: argparse.Namespace) -> bytes:
    """The pseudonymization key the options name (never printed)."""
    from .keys import load_secret

    key = load_secret(args.secret_file, allow_demo=args.demo_key)
    if args.demo_key and not args.secret_file:
        logging.getLogger(__name__).warning("using the public demo key; pseudonyms are not secret (demo data only)")
    return key


def _options(args: argparse.Namespace) -> tuple[str, ...]:
    from .profile import options_from_config

    flags = {name: True for name in args.option or []}
    flags.update({name: False for name in args.no_option or []})
    return options_from_config(flags)


def _common(p: argparse.ArgumentParser) -> None:
    add_key_options(p)
    p.add_argument("--option", action="append", help="enable a PS3.15 option (e.g. retain_uids)")
    p.add_argument("--no-option", action="append", help="disable a default option (e.g. clean_descriptors)")


def _deidentify(args: argparse.Namespace) -> int:
    from .run import deidentify_folder

    restricted = Path(args.restricted) if args.restricted else Path(f"{Path(args.out).resolve()}-restricted")
    result = deidentify_folder(Path(args.input), Path(args.out), restricted, secret(args), _options(args), args.source)
    written = len({r["file"] for r in result.audit})
    print(
        f"de-identified {written} files into {args.out}; {len(result.quarantine)} quarantined, "
        f"{len(result.rejects)} rejected; audit and linkage in {restricted}"
    )
    if not written:
        raise BreastcurateError(f"no file under {args.input} could be de-identified: the reasons are in {restricted}")
    return 0


def _deidentify_shard(args: argparse.Namespace) -> int:
    from .run import ShardOutputs, deidentify_shard

    out = ShardOutputs(
        Path(args.out), Path(args.dicom), Path(args.inventory), Path(args.inventory_rejects), Path(args.terms)
    )
    result = deidentify_shard(args.dataset, Path(args.listing), Path(args.raw), out, secret(args), _options(args))
    print(
        f"{args.dataset}: {len({r['file'] for r in result.audit})} files de-identified, "
        f"{len(result.quarantine)} quarantined, {len(result.rejects)} rejected"
    )
    return 0


def _merge_terms(args: argparse.Namespace) -> int:
    from .phi_terms import merge_dataset_terms

    n = merge_dataset_terms([Path(p) for p in args.terms], Path(args.out))
    print(f"{n} dataset-wide PHI values from {len(args.terms)} shards")
    return 0


def register(registry: Registry) -> None:
    p = registry.add("deidentify", "de-identify a folder of DICOM (PS3.15 Annex E) into OUT")
    p.add_argument("input", metavar="IN")
    p.add_argument("out", metavar="OUT", help="folder meant to be shared: no PHI, no audit or linkage")
    p.add_argument("--restricted", help="where audit, linkage and quarantine go (default: OUT-restricted)")
    p.add_argument("--source", default="folder", help="dataset key (selects its known descriptions)")
    _common(p)
    p.set_defaults(func=_deidentify)

    p = registry.add(
        "deidentify-shard",
        "inventory (headers, SHA-256) and de-identify one listed shard, collecting its PHI values",
        pipeline=True,
    )
    p.add_argument("dataset")
    p.add_argument("--listing", required=True, help="the shard's listing")
    p.add_argument("--raw", required=True, help="the dataset's native mirror")
    p.add_argument("--out", required=True, help="the shard's folder of de-identification tables")
    p.add_argument("--dicom", required=True, help="the shard's folder of de-identified DICOM")
    p.add_argument("--inventory", required=True, help="where the shard's inventory goes")
    p.add_argument("--inventory-rejects", required=True, help="where its unreadable files go")
    p.add_argument("--terms", required=True, help="where the PHI values of the shard's raw headers go")
    _common(p)
    p.set_defaults(func=_deidentify_shard)

    p = registry.add("merge-phi-terms", "the dataset-wide PHI values of every shard, in one table", pipeline=True)
    p.add_argument("terms", nargs="+", help="every shard's PHI value table")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_merge_terms)
