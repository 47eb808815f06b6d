# Data checks that gate the run. The PHI scan searches every curated file and path for any PHI value of the raw
# mirrors; a hit fails the job (its masked report is in the restricted log) and so stops the run.


def raw_roots_args(wildcards=None):
    return " ".join(f"--raw {shlex.quote(raw_root(d))}" for d in DATASETS)


rule phi_scan:
    input:
        converted=expand(f"{RESULTS}/restricted/convert/{{dataset}}/shard-{{shard}}", dataset=DATASETS, shard=SHARDS),
        catalog=f"{RESULTS}/catalog.duckdb",
    output:
        f"{RESULTS}/curated/checks/phi_scan.json",
    params:
        raws=raw_roots_args,
    threads: 4
    log:
        f"{RESULTS}/restricted/logs/checks/phi_scan.log",
    resources:
        mem_mb=2000,
        runtime=240,
    shell:
        "{PY} -m breastcurate scan-phi {params.raws} {RESULTS}/curated --report {output} --workers {threads} > {log} 2>&1"
