# Harmonization, splits and the catalog: person linking across datasets (restricted input, pseudonymous output), one
# job per dataset writing every canonical table's shard parts, then the splits and the DuckDB catalog over them.
# harmonize is a checkpoint whose outputs are rewritten only on change: after it runs, Snakemake re-runs only the
# shards whose parts changed.


rule link_people:
    input:
        all_linkage,
    output:
        LAYOUT.people(),
    log:
        LAYOUT.log("link_people", "all"),
    benchmark:
        LAYOUT.benchmark("link_people", "all")
    conda:
        "../environment.yml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        linkage=[str(LAYOUT.linkage(d, k)) for d in DATASETS for k in SHARDS],
    shell:
        "python -m breastcurate link-people {params.linkage} --out {output} > {log} 2>&1"


checkpoint harmonize:
    input:
        unpack(harmonize_inputs),
    output:
        [update(str(LAYOUT.table_part(table, "{dataset}", k))) for table in TABLES for k in SHARDS],
    log:
        LAYOUT.log("harmonize", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("harmonize", "{dataset}")
    conda:
        "../environment.yml"
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        results=results_param,
        raw=raw_root_param,
        n_shards=config["n_shards"],
        key=deid_key_args(),
        idc=idc_index_arg,
    shell:
        "python -m breastcurate harmonize {wildcards.dataset} --results {params.results:q} --raw {params.raw:q}"
        " --n-shards {params.n_shards} --people {input.people} {params.idc} {params.key} > {log} 2>&1"


rule align_splits:
    input:
        all_linkage,
        versions=SPLITS_FILE,
        published=EXTERNAL_SPLIT_FILES,
    output:
        LAYOUT.external_splits(),
    log:
        LAYOUT.log("align_splits", "all"),
    benchmark:
        LAYOUT.benchmark("align_splits", "all")
    conda:
        "../environment.yml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        linkage=[str(LAYOUT.linkage(d, k)) for d in DATASETS for k in SHARDS],
    shell:
        "python -m breastcurate align-splits --versions {input.versions:q} --out {output} {params.linkage} > {log} 2>&1"


rule splits:
    input:
        tables=all_parts(),
        versions=SPLITS_FILE,
        external=LAYOUT.external_splits(),
    output:
        parquet=[str(LAYOUT.split(v)) for v in SPLIT_VERSIONS],
        cards=[str(LAYOUT.split_card(v)) for v in SPLIT_VERSIONS],
    log:
        LAYOUT.log("splits", "all"),
    benchmark:
        LAYOUT.benchmark("splits", "all")
    conda:
        "../environment.yml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        # Releases of these versions are read by name as the freeze guard, not as inputs: a release re-runs nothing.
        results=results_param,
        scope=SHARD_ARGS,
    shell:
        "python -m breastcurate splits --results {params.results:q} {params.scope} --versions {input.versions:q}"
        " --external {input.external:q} > {log} 2>&1"


rule catalog:
    input:
        catalog_parts(),
    output:
        LAYOUT.catalog,
    log:
        LAYOUT.log("catalog", "all"),
    benchmark:
        LAYOUT.benchmark("catalog", "all")
    conda:
        "../environment.yml"
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        results=results_param,
        scope=SCOPE_ARGS,
    shell:
        "python -m breastcurate catalog --results {params.results:q} {params.scope} > {log} 2>&1"
