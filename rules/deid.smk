# De-identification: one job per (dataset, shard); output stays in the restricted zone with its audit and linkage.


rule deidentify:
    input:
        inventory=f"{RESULTS}/restricted/inventory/{{dataset}}/shard-{{shard}}.parquet",
    output:
        directory(f"{RESULTS}/restricted/deid/{{dataset}}/shard-{{shard}}"),
    params:
        raw=raw_root_param,
        key=deid_key_args(),
        options=deid_option_args(),
    log:
        f"{RESULTS}/restricted/logs/deidentify/{{dataset}}-{{shard}}.log",
    benchmark:
        f"{RESULTS}/restricted/benchmarks/deidentify/{{dataset}}-{{shard}}.tsv"
    resources:
        mem_mb=2000,
        runtime=240,
    shell:
        "{PY} -m breastcurate deidentify-shard {wildcards.dataset} --inventory {input.inventory}"
        " --raw {params.raw:q} --out {output} {params.key} {params.options} > {log} 2>&1"
