# Harmonization, splits and the catalog: person linking across datasets (restricted input, pseudonymous output), one job
# per dataset writing every canonical table's shard parts, then the DuckDB catalog over them.


rule link_people:
    input:
        expand(f"{RESULTS}/restricted/deid/{{dataset}}/shard-{{shard}}", dataset=DATASETS, shard=SHARDS),
    output:
        f"{RESULTS}/restricted/people.parquet",
    params:
        linkage=" ".join(f"{RESULTS}/restricted/deid/{d}/shard-{k}/linkage.parquet" for d in DATASETS for k in SHARDS),
    log:
        f"{RESULTS}/restricted/logs/link_people.log",
    shell:
        "{PY} -m breastcurate link-people {params.linkage} --out {output} > {log} 2>&1"


rule harmonize:
    input:
        converted=expand(f"{RESULTS}/restricted/convert/{{{{dataset}}}}/shard-{{shard}}", shard=SHARDS),
        people=f"{RESULTS}/restricted/people.parquet",
    output:
        [f"{RESULTS}/curated/tables/{table}/dataset={{dataset}}/part-{k}.parquet" for table in TABLES for k in SHARDS],
    params:
        raw=raw_root_param,
        n_shards=config["n_shards"],
        key=deid_key_args(),
    log:
        f"{RESULTS}/restricted/logs/harmonize/{{dataset}}.log",
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "{PY} -m breastcurate harmonize {wildcards.dataset} --results {RESULTS} --raw {params.raw:q}"
        " --n-shards {params.n_shards} --people {input.people} {params.key} > {log} 2>&1"


rule splits:
    input:
        tables=expand(f"{RESULTS}/curated/tables/{{table}}/dataset={{dataset}}/part-{{shard}}.parquet", table=TABLES,
                      dataset=DATASETS, shard=SHARDS),
        versions=SPLITS_FILE,
    output:
        [f"{RESULTS}/curated/splits/{v}.parquet" for v in SPLIT_VERSIONS],
    log:
        f"{RESULTS}/restricted/logs/splits.log",
    shell:
        "{PY} -m breastcurate splits --results {RESULTS} --versions {input.versions:q} > {log} 2>&1"


rule catalog:
    input:
        expand(f"{RESULTS}/curated/tables/{{table}}/dataset={{dataset}}/part-{{shard}}.parquet", table=TABLES,
               dataset=DATASETS, shard=SHARDS),
        [f"{RESULTS}/curated/splits/{v}.parquet" for v in SPLIT_VERSIONS],
        expand(f"{RESULTS}/curated/radiomics/dataset={{dataset}}/part-{{shard}}.parquet", dataset=DATASETS,
               shard=SHARDS),
    output:
        f"{RESULTS}/catalog.duckdb",
    log:
        f"{RESULTS}/restricted/logs/catalog.log",
    shell:
        "{PY} -m breastcurate catalog --results {RESULTS} > {log} 2>&1"
