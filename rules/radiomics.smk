# Radiomics: one job per (dataset, shard) over the shard's findings; ROIs run in parallel processes.


rule radiomics:
    input:
        findings=LAYOUT.table_part("findings", "{dataset}", "{shard}"),
        volumes=LAYOUT.table_part("volumes", "{dataset}", "{shard}"),
        images=LAYOUT.table_part("images", "{dataset}", "{shard}"),
        curated=shard_folders,
        params_mr=checkout_file(config["radiomics"]["params_mr"]),
        params_mg=checkout_file(config["radiomics"]["params_mg"]),
    output:
        features=LAYOUT.radiomics("{dataset}", "{shard}"),
        rejects=LAYOUT.radiomics_rejects("{dataset}", "{shard}"),
    log:
        LAYOUT.log("radiomics", "{dataset}-{shard}"),
    benchmark:
        LAYOUT.benchmark("radiomics", "{dataset}-{shard}")
    conda:
        "../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        results=results_param,
        phases=" ".join(f"--phase {p}" for p in config["radiomics"]["phases"]),
    shell:
        "python -m breastcurate radiomics-shard {wildcards.dataset} --results {params.results:q} --findings {input.findings}"
        " --volumes {input.volumes} --images {input.images} --params-mr {input.params_mr:q}"
        " --params-mg {input.params_mg:q} {params.phases} --out {output.features} --rejects {output.rejects}"
        " --threads {threads} > {log} 2>&1"
