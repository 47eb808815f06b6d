# Acquisition: the embedded demo writes a native-layout mirror into the restricted raw area; `source: download`
# fetches the real one there. The mirror folder is not a declared output of `download` (Snakemake would delete it
# before a rerun); its completion report is, and the download's ledger lets a rerun skip what is complete.


rule demo_data:
    output:
        directory(f"{RESULTS}/restricted/raw/{{dataset}}"),
    wildcard_constraints:
        dataset="|".join(DEMO_DATASETS) if DEMO_DATASETS else "none",
    params:
        patients=config["demo"]["patients"],
        seed=config["demo"]["seed"],
    log:
        f"{RESULTS}/restricted/logs/demo_data/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/restricted/benchmarks/demo_data/{{dataset}}.tsv"
    resources:
        mem_mb=1000,
        runtime=30,
    shell:
        "{PY} -m breastcurate demo-data --out {RESULTS}/restricted/raw --dataset {wildcards.dataset}"
        " --patients {params.patients} --seed {params.seed} > {log} 2>&1"


def download_settings(wildcards):
    return shlex.quote(json.dumps(config["datasets"][wildcards.dataset], sort_keys=True))


rule download:
    output:
        f"{RESULTS}/restricted/downloads/{{dataset}}/complete.json",
    wildcard_constraints:
        dataset="|".join(DOWNLOAD_DATASETS) if DOWNLOAD_DATASETS else "none",
    params:
        settings=download_settings,
    log:
        f"{RESULTS}/restricted/logs/download/{{dataset}}.log",
    resources:
        mem_mb=2000,
        runtime=7 * 24 * 60,
    shell:
        "{PY} -m breastcurate download {wildcards.dataset} --results {RESULTS} --settings {params.settings}"
        " > {log} 2>&1"
