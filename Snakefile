# breastcurate: public breast-imaging collections → one de-identified, harmonized, versioned catalog.
# Rules are thin: each calls one `breastcurate` subcommand (the same function a user calls).
import os

from snakemake.utils import min_version, validate

min_version("9.0")


# A user's --configfile replaces the default demo config (it is not merged into it, so a dataset left out of it is
# not processed); --config KEY=VALUE alone overrides the default.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


validate(config, os.path.join(workflow.basedir, "schemas", "config.schema.yaml"))

from breastcurate.config import check_datasets

check_datasets(config)


include: "rules/common.smk"
include: "rules/acquire.smk"
include: "rules/inventory.smk"
include: "rules/deid.smk"
include: "rules/convert.smk"
include: "rules/harmonize.smk"
include: "rules/radiomics.smk"
include: "rules/checks.smk"


rule all:
    input:
        expand(f"{RESULTS}/restricted/inventory/{{dataset}}/manifest.json", dataset=DATASETS),
        expand(f"{RESULTS}/restricted/convert/{{dataset}}/shard-{{shard}}", dataset=DATASETS, shard=SHARDS),
        f"{RESULTS}/catalog.duckdb",
        f"{RESULTS}/curated/checks/phi_scan.json",
        f"{RESULTS}/curated/checks/checks.json",
        f"{RESULTS}/curated/checks/qc/counts.csv",
    default_target: True
