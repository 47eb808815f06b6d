# Harmonization, splits and the catalog: person linking across datasets (restricted input, pseudonymous output), one
# job per dataset writing every canonical table's shard parts, then the splits and the DuckDB catalog over them.
# harmonize is a checkpoint whose outputs are rewritten only on change: after it runs, Snakemake re-runs only the
# shards whose parts changed.


def all_linkage(wildcards):
    return [str(LAYOUT.deid(d, k)) for d in DATASETS for k in SHARDS]


rule link_people:
    input:
        all_linkage,
    output:
        LAYOUT.people(),
    params:
        linkage=[str(LAYOUT.deid(d, k) / "linkage.parquet") for d in DATASETS for k in SHARDS],
    log:
        LAYOUT.log("link_people", "all"),
    shell:
        "{PY} -m breastcurate link-people {params.linkage} --out {output} > {log} 2>&1"


def harmonize_inputs(wildcards):
    d = wildcards.dataset
    return {
        "convert": shard_paths(LAYOUT.convert_tables, d),
        "deid": shard_paths(LAYOUT.deid, d),
        "rejects": shard_paths(LAYOUT.inventory_rejects, d) + [str(LAYOUT.listing_rejects(d))],
        "people": str(LAYOUT.people()),
        "native": native_tables(wildcards),
        "manifest": str(LAYOUT.manifest(d)),  # decided afresh after the listing checkpoint (see convert_mg)
    }


checkpoint harmonize:
    input:
        unpack(harmonize_inputs),
    output:
        [update(str(LAYOUT.table_part(table, "{dataset}", k))) for table in TABLES for k in SHARDS],
    params:
        raw=raw_root_param,
        n_shards=config["n_shards"],
        key=deid_key_args(),
    log:
        LAYOUT.log("harmonize", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("harmonize", "{dataset}")
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "{PY} -m breastcurate harmonize {wildcards.dataset} --results {RESULTS:q} --raw {params.raw:q}"
        " --n-shards {params.n_shards} --people {input.people} {params.key} > {log} 2>&1"


def all_parts(tables=TABLES):
    return [str(LAYOUT.table_part(t, d, k)) for t in tables for d in DATASETS for k in SHARDS]


def released_versions(wildcards):
    """Releases of the declared split versions (a released version is frozen: splits read it)."""
    return [
        str(LAYOUT.release(v) / name)
        for v in SPLIT_VERSIONS
        for name in ("release.json", "splits.parquet")
        if (LAYOUT.release(v) / "release.json").exists()
    ]


rule splits:
    input:
        tables=all_parts(),
        versions=SPLITS_FILE,
        released=released_versions,
    output:
        parquet=[str(LAYOUT.split(v)) for v in SPLIT_VERSIONS],
        cards=[str(LAYOUT.split_card(v)) for v in SPLIT_VERSIONS],
    log:
        LAYOUT.log("splits", "all"),
    shell:
        "{PY} -m breastcurate splits --results {RESULTS:q} --versions {input.versions:q} > {log} 2>&1"


rule catalog:
    input:
        all_parts(),
        [str(LAYOUT.split(v)) for v in SPLIT_VERSIONS],
        [str(LAYOUT.radiomics(d, k)) for d in DATASETS for k in SHARDS],
        [str(LAYOUT.radiomics_rejects(d, k)) for d in DATASETS for k in SHARDS],
    output:
        LAYOUT.catalog,
    log:
        LAYOUT.log("catalog", "all"),
    shell:
        "{PY} -m breastcurate catalog --results {RESULTS:q} > {log} 2>&1"
