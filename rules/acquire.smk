# Acquisition: the embedded demo writes a native-layout mirror into the restricted raw area; `source: download`
# fetches the real one there. The mirror folder is not a declared output of `download` (Snakemake would delete it
# before a rerun); its completion report is, and the download's ledger lets a rerun skip what is complete.


rule demo_data:
    output:
        directory(LAYOUT.raw("{dataset}")),
    log:
        LAYOUT.log("demo_data", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("demo_data", "{dataset}")
    wildcard_constraints:
        dataset=nonempty(DEMO_DATASETS),
    conda:
        "../environment.yml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        out=LAYOUT.raw("{dataset}").parent,
        patients=config["demo"]["patients"],
        seed=config["demo"]["seed"],
        size="--full-size" if config["demo"]["full_size"] else "",
    shell:
        "python -m breastcurate demo-data --out {params.out:q} --dataset {wildcards.dataset}"
        " --patients {params.patients} --seed {params.seed} {params.size} > {log} 2>&1"


rule download:
    output:
        LAYOUT.download_report("{dataset}"),
    log:
        LAYOUT.log("download", "{dataset}"),
    wildcard_constraints:
        dataset=nonempty(DOWNLOAD_DATASETS),
    conda:
        "../environment.yml"
    resources:
        mem_mb=2000,
        runtime=7 * 24 * 60,
        download_slots=1,  # `--resources download_slots=N` (set in the profiles) bounds the downloads at once
    params:
        results=results_param,
        settings=download_settings,
        upstream=download_upstream,  # unused by the command: a newer IDC index re-runs the download
    shell:
        "python -m breastcurate download {wildcards.dataset} --results {params.results:q} --settings {params.settings}"
        " > {log} 2>&1"
