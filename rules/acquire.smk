# Acquisition: the embedded demo writes a native-layout mirror into the restricted raw area.


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
