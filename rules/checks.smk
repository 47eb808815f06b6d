# Data checks that gate the run: the PHI scan, then every Great Expectations suite (one job, so GX is imported once). The PHI scan searches every curated file and path for any PHI value of the raw
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


rule checks:
    input:
        catalog=f"{RESULTS}/catalog.duckdb",
        phi=f"{RESULTS}/curated/checks/phi_scan.json",
    output:
        f"{RESULTS}/curated/checks/checks.json",
    params:
        options=json.dumps(config.get("checks", {}), sort_keys=True),
    log:
        f"{RESULTS}/restricted/logs/checks/checks.log",
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "{PY} -m breastcurate checks --results {RESULTS} --out {output} --options {params.options:q} > {log} 2>&1"


rule qc:
    input:
        f"{RESULTS}/curated/checks/checks.json",
    output:
        counts=report(f"{RESULTS}/curated/checks/qc/counts.csv", caption="../workflow/report/counts.rst",
                      category="1. Counts"),
        montages=report(expand(f"{RESULTS}/curated/checks/qc/montage_{{dataset}}.png", dataset=DATASETS),
                        caption="../workflow/report/montage.rst", category="2. Thumbnails"),
        histograms=report(f"{RESULTS}/curated/checks/qc/histograms.png", caption="../workflow/report/histograms.rst",
                          category="3. Intensities"),
        rejects=report(f"{RESULTS}/curated/checks/qc/rejects.csv", caption="../workflow/report/rejects.rst",
                       category="4. Rejects"),
        checks=report(f"{RESULTS}/curated/checks/qc/checks.csv", caption="../workflow/report/checks.rst",
                      category="5. Data checks"),
        versions=report(f"{RESULTS}/curated/checks/qc/versions.csv", caption="../workflow/report/versions.rst",
                        category="6. Tool versions"),
    params:
        datasets=" ".join(f"--dataset {d}" for d in DATASETS),
    log:
        f"{RESULTS}/restricted/logs/checks/qc.log",
    shell:
        "{PY} -m breastcurate qc --results {RESULTS} --out {RESULTS}/curated/checks/qc {params.datasets} > {log} 2>&1"
