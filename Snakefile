# breastcurate: public breast-imaging collections → one de-identified, harmonized, versioned catalog.
# Rules are thin: each calls one `breastcurate` subcommand (the same function a user calls) with paths from the
# package's Layout, the one place that knows where every file lives.
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# A user's --configfile replaces the default demo config (it is not merged into it, so a dataset left out of it is
# not processed); --config KEY=VALUE alone overrides the default.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


# Validation fills in every default (defaults live only in the schema) and checks offline what the run will need;
# a problem is a few lines naming the key, the value, the rule and the valid choices, and the run stops.
from breastcurate.checks.run import failure_lines, reject_counts
from breastcurate.config import validate_config
from breastcurate.errors import BreastcurateError
from breastcurate.preflight import check_run

try:
    check_run(validate_config(config), Path(workflow.basedir))
except BreastcurateError as exc:
    sys.exit(f"breastcurate: config error: {exc}")


include: "rules/common.smk"


onstart:
    os.umask(RESTRICTED_UMASK)
    LAYOUT.prepare(config["restricted_group"])
    # The curated zone holds exactly what the config declares: parts and folders of a dataset taken out of it, of
    # shards beyond n_shards or of split versions no longer defined belong to no output, and go.
    for path in LAYOUT.prune(SCOPE):
        print(f"breastcurate: removed {path} (not in the config's datasets, shards or split versions)")


# Every run ends with the rejects per dataset and stage; a failed one also with the failed data checks, if any.
onsuccess:
    print(reject_counts(LAYOUT.root, DATASETS, SHARDS), file=sys.stderr)


onerror:
    print(reject_counts(LAYOUT.root, DATASETS, SHARDS), file=sys.stderr)
    if failed := failure_lines(LAYOUT.root):
        print(failed, file=sys.stderr)


wildcard_constraints:
    dataset="|".join(DATASETS) if DATASETS else "none",
    shard=r"\d+",


include: "rules/acquire.smk"
include: "rules/inventory.smk"
include: "rules/deid.smk"
include: "rules/convert.smk"
include: "rules/harmonize.smk"
include: "rules/radiomics.smk"
include: "rules/checks.smk"


rule all:
    default_target: True
    input:
        expand(LAYOUT.manifest("{dataset}"), dataset=DATASETS),
        LAYOUT.catalog,
        # The gates, each named here: a failed one is missing, so the next run tries it again.
        [str(LAYOUT.shard_check(d, k)) for d in DATASETS for k in SHARDS],
        LAYOUT.global_scan,
        LAYOUT.checks_passed,
        expand(LAYOUT.qc("{dataset}") / "counts.csv", dataset=DATASETS),
        LAYOUT.qc_summary / "checks.csv",
