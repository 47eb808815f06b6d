# Acquisition: the embedded demo writes a native-layout mirror into the restricted raw area; `source: download`
# fetches the real one there. The mirror folder is not a declared output of `download` (Snakemake would delete it
# before a rerun); its completion report is, and the download's ledger lets a rerun skip what is complete.


rule demo_data:
    output:
        directory(LAYOUT.raw("{dataset}")),
    wildcard_constraints:
        dataset=nonempty(DEMO_DATASETS),
    params:
        out=LAYOUT.raw("{dataset}").parent,
        patients=config["demo"]["patients"],
        seed=config["demo"]["seed"],
    log:
        LAYOUT.log("demo_data", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("demo_data", "{dataset}")
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "{PY} -m breastcurate demo-data --out {params.out:q} --dataset {wildcards.dataset}"
        " --patients {params.patients} --seed {params.seed} > {log} 2>&1"


def download_settings(wildcards):
    return shlex.quote(as_json(config["datasets"][wildcards.dataset]))


rule download:
    output:
        LAYOUT.download_report("{dataset}"),
    wildcard_constraints:
        dataset=nonempty(DOWNLOAD_DATASETS),
    params:
        settings=download_settings,
    log:
        LAYOUT.log("download", "{dataset}"),
    resources:
        mem_mb=2000,
        runtime=7 * 24 * 60,
    shell:
        "{PY} -m breastcurate download {wildcards.dataset} --results {RESULTS:q} --settings {params.settings}"
        " > {log} 2>&1"
