# Radiomics: one job per (dataset, shard) over the shard's findings; ROIs run in parallel processes.


def workflow_path(path):
    return path if os.path.isabs(path) else os.path.join(workflow.basedir, path)


RADIOMICS = config.get("radiomics", {})


rule radiomics:
    input:
        findings=f"{RESULTS}/curated/tables/findings/dataset={{dataset}}/part-{{shard}}.parquet",
        volumes=f"{RESULTS}/curated/tables/volumes/dataset={{dataset}}/part-{{shard}}.parquet",
        images=f"{RESULTS}/curated/tables/images/dataset={{dataset}}/part-{{shard}}.parquet",
        params_mr=workflow_path(RADIOMICS.get("params_mr", "config/radiomics/MR.yaml")),
        params_mg=workflow_path(RADIOMICS.get("params_mg", "config/radiomics/MG.yaml")),
    output:
        features=f"{RESULTS}/curated/radiomics/dataset={{dataset}}/part-{{shard}}.parquet",
        rejects=f"{RESULTS}/curated/tables/rejects/dataset={{dataset}}/radiomics-{{shard}}.parquet",
    params:
        phases=" ".join(f"--phase {p}" for p in RADIOMICS.get("phases", ["pre", "post_1"])),
    threads: 2
    log:
        f"{RESULTS}/restricted/logs/radiomics/{{dataset}}-{{shard}}.log",
    resources:
        mem_mb=4000,
        runtime=240,
    shell:
        "{PY} -m breastcurate radiomics-shard {wildcards.dataset} --results {RESULTS} --shard {wildcards.shard}"
        " --params-mr {input.params_mr:q} --params-mg {input.params_mg:q} {params.phases} --threads {threads}"
        " > {log} 2>&1"
