# Conversion: one job per (dataset, shard). Its curated files go into the shard's own folders (declared outputs,
# so a patient removed from the input disappears on rerun); its tables, which name native paths, stay restricted.


rule convert_mg:
    input:
        deid=LAYOUT.deid("{dataset}", "{shard}"),
        dicom=LAYOUT.deid_dicom("{dataset}", "{shard}"),
        native=annotation_tables,
        # Read through the de-identified files; named so that Snakemake decides this job afresh after the listing
        # checkpoint (a job that only depends on a checkpoint's dependents keeps the plan made before it ran).
        listing=LAYOUT.listing("{dataset}", "{shard}"),
    output:
        tables=directory(LAYOUT.convert_tables("{dataset}", "{shard}")),
        images=directory(LAYOUT.images("{dataset}", "{shard}")),
        masks=directory(LAYOUT.masks("{dataset}", "{shard}")),
    log:
        LAYOUT.log("convert", "{dataset}-{shard}"),
    benchmark:
        LAYOUT.benchmark("convert", "{dataset}-{shard}")
    wildcard_constraints:
        dataset=nonempty(MG_DATASETS),
    conda:
        "../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        results=results_param,
        raw=raw_root_param,
        options=as_json(config["convert"]),
        delete_dicom=DELETE_DICOM,
    shell:
        "python -m breastcurate convert-shard {wildcards.dataset} --deid {input.deid} --dicom {input.dicom}"
        " {params.delete_dicom} --raw {params.raw:q}"
        " --results {params.results:q} --tables {output.tables} --images {output.images} --masks {output.masks}"
        " --options {params.options:q} --threads {threads} > {log} 2>&1"


rule convert_mr:
    input:
        deid=LAYOUT.deid("{dataset}", "{shard}"),
        dicom=LAYOUT.deid_dicom("{dataset}", "{shard}"),
        native=annotation_tables,
        # Read through the de-identified files; named so that Snakemake decides this job afresh after the listing
        # checkpoint (a job that only depends on a checkpoint's dependents keeps the plan made before it ran).
        listing=LAYOUT.listing("{dataset}", "{shard}"),
    output:
        tables=directory(LAYOUT.convert_tables("{dataset}", "{shard}")),
        volumes=directory(LAYOUT.volumes("{dataset}", "{shard}")),
        masks=directory(LAYOUT.masks("{dataset}", "{shard}")),
    log:
        LAYOUT.log("convert", "{dataset}-{shard}"),
    benchmark:
        LAYOUT.benchmark("convert", "{dataset}-{shard}")
    wildcard_constraints:
        dataset=nonempty(MR_DATASETS),
    conda:
        "../environment.yml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        results=results_param,
        raw=raw_root_param,
        options=as_json(config["convert"]),
        delete_dicom=DELETE_DICOM,
    shell:
        "python -m breastcurate convert-shard {wildcards.dataset} --deid {input.deid} --dicom {input.dicom}"
        " {params.delete_dicom} --raw {params.raw:q}"
        " --results {params.results:q} --tables {output.tables} --images {output.volumes} --masks {output.masks}"
        " --options {params.options:q} --threads {threads} > {log} 2>&1"
