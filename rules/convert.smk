# Conversion: one job per (dataset, shard). Its curated files go into the shard's own folders (declared outputs,
# so a patient removed from the input disappears on rerun); its tables, which name native paths, stay restricted.


def convert_shell(images):
    return (
        "{PY} -m breastcurate convert-shard {wildcards.dataset} --deid {input.deid} --raw {params.raw:q}"
        " --results {RESULTS:q} --tables {output.tables} --images {output." + images + "} --masks {output.masks}"
        " --options {params.options:q} --threads {threads} > {log} 2>&1"
    )


rule convert_mg:
    input:
        deid=LAYOUT.deid("{dataset}", "{shard}"),
        native=annotation_tables,
        # Read through the de-identified files; named so that Snakemake decides this job afresh after the listing
        # checkpoint (a job that only depends on a checkpoint's dependents keeps the plan made before it ran).
        listing=LAYOUT.listing("{dataset}", "{shard}"),
    output:
        tables=directory(LAYOUT.convert_tables("{dataset}", "{shard}")),
        images=directory(LAYOUT.images("{dataset}", "{shard}")),
        masks=directory(LAYOUT.masks("{dataset}", "{shard}")),
    wildcard_constraints:
        dataset=nonempty(MG_DATASETS),
    params:
        raw=raw_root_param,
        options=as_json(config["convert"]),
    threads: 2
    log:
        LAYOUT.log("convert", "{dataset}-{shard}"),
    benchmark:
        LAYOUT.benchmark("convert", "{dataset}-{shard}")
    resources:
        mem_mb=4000,
        runtime=240,
    shell:
        convert_shell("images")


rule convert_mr:
    input:
        deid=LAYOUT.deid("{dataset}", "{shard}"),
        native=annotation_tables,
        # Read through the de-identified files; named so that Snakemake decides this job afresh after the listing
        # checkpoint (a job that only depends on a checkpoint's dependents keeps the plan made before it ran).
        listing=LAYOUT.listing("{dataset}", "{shard}"),
    output:
        tables=directory(LAYOUT.convert_tables("{dataset}", "{shard}")),
        volumes=directory(LAYOUT.volumes("{dataset}", "{shard}")),
        masks=directory(LAYOUT.masks("{dataset}", "{shard}")),
    wildcard_constraints:
        dataset=nonempty(MR_DATASETS),
    params:
        raw=raw_root_param,
        options=as_json(config["convert"]),
    threads: 2
    log:
        LAYOUT.log("convert", "{dataset}-{shard}"),
    benchmark:
        LAYOUT.benchmark("convert", "{dataset}-{shard}")
    resources:
        mem_mb=8000,
        runtime=240,
    shell:
        convert_shell("volumes")


def curated_folders(dataset, shard):
    """The curated folders the conversion of one shard writes."""
    modality = get_adapter(dataset).modality
    return [str(p) for p in LAYOUT.shard_outputs(dataset, shard, modality)]


def shard_folders(wildcards):
    return curated_folders(wildcards.dataset, wildcards.shard)


def dataset_folders(wildcards):
    return [f for k in SHARDS for f in curated_folders(wildcards.dataset, k)]
