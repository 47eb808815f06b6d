# Inventory: one job per dataset lists every DICOM file into patient-complete shards (restricted).
# Shard files are flagged update(): the job rewrites only shards whose content changed.


rule inventory:
    input:
        raw_input,
    output:
        manifest=f"{RESULTS}/restricted/inventory/{{dataset}}/manifest.json",
        shards=[update(f"{RESULTS}/restricted/inventory/{{dataset}}/shard-{k}.parquet") for k in SHARDS],
        rejects=update(f"{RESULTS}/restricted/inventory/{{dataset}}/rejects.parquet"),
    params:
        root=raw_root_param,
        n_shards=config["n_shards"],
        salt=config["shard_salt"],
        select=select_param,
    threads: config["inventory_workers"]
    log:
        f"{RESULTS}/restricted/logs/inventory/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/restricted/benchmarks/inventory/{{dataset}}.tsv"
    resources:
        mem_mb=2000,
        runtime=120,
    shell:
        "{PY} -m breastcurate inventory {wildcards.dataset} {params.root:q}"
        " --out {RESULTS}/restricted/inventory/{wildcards.dataset} --n-shards {params.n_shards}"
        " --salt {params.salt:q} --workers {threads} --select {params.select:q} > {log} 2>&1"
