# Inventory in two steps, so that no job grows with the corpus: one cheap listing job per dataset (paths, sizes and
# each file's patient, hence its shard), then, per shard, the headers and hashes of its files — written by the
# de-identification job (rules/deid.smk), which reads every file anyway: the corpus is read once, not twice.
# The listing is a checkpoint whose outputs are rewritten only when their content changes: after it runs, Snakemake
# looks again and re-runs only the shards whose listing changed.


checkpoint list_files:
    input:
        raw_ready,
        annotation_tables,
    output:
        listings=[update(str(LAYOUT.listing("{dataset}", k))) for k in SHARDS],
        rejects=update(str(LAYOUT.listing_rejects("{dataset}"))),
        manifest=update(str(LAYOUT.manifest("{dataset}"))),
    log:
        LAYOUT.log("list_files", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("list_files", "{dataset}")
    conda:
        "../environment.yml"
    threads: config["inventory_workers"]
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        root=raw_root_param,
        salt=config["shard_salt"],
        select=select_param,
        mirror=mirror_state_param,  # unused by the command: a changed local mirror re-runs the listing
    shell:
        "python -m breastcurate list-files {wildcards.dataset} {params.root:q} --listing {output.listings}"
        " --rejects {output.rejects} --manifest {output.manifest} --salt {params.salt:q}"
        " --select {params.select:q} --workers {threads} > {log} 2>&1"
