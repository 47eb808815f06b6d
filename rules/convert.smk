# Conversion: one job per (dataset, shard). Curated PNG / NIfTI files go under curated/; the shard's tables (with
# native paths, for harmonization) stay in the restricted zone.


rule convert:
    input:
        deid=f"{RESULTS}/restricted/deid/{{dataset}}/shard-{{shard}}",
    output:
        directory(f"{RESULTS}/restricted/convert/{{dataset}}/shard-{{shard}}"),
    params:
        raw=raw_root_param,
        options=json.dumps(config.get("convert", {}), sort_keys=True),
    threads: 2
    log:
        f"{RESULTS}/restricted/logs/convert/{{dataset}}-{{shard}}.log",
    benchmark:
        f"{RESULTS}/restricted/benchmarks/convert/{{dataset}}-{{shard}}.tsv"
    resources:
        mem_mb=4000,
        runtime=240,
    shell:
        "{PY} -m breastcurate convert-shard {wildcards.dataset} --deid {input.deid} --raw {params.raw:q}"
        " --results {RESULTS} --out {output} --options {params.options:q} --threads {threads} > {log} 2>&1"
