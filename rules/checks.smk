# Data checks that gate the run. Per shard: the shard's curated files are verified against the files table and
# scanned for the PHI values of its own patients plus the dataset-wide ones (a hit fails the job; its masked report
# is in the restricted log). Once: the files no shard owns are scanned for every shard's values, then every Great
# Expectations suite runs over the tables (one job, so GX is imported once). QC for the report, per dataset.
SHARD_SCANNED = [t for t in TABLES if t != "coverage"]  # coverage is dataset-wide: the global scan reads it


def check_shard_inputs(wildcards):
    d, k = wildcards.dataset, wildcards.shard
    return {
        "folders": shard_folders(wildcards),
        "tables": [str(LAYOUT.table_part(t, d, k)) for t in SHARD_SCANNED]
        + [str(LAYOUT.radiomics(d, k)), str(LAYOUT.radiomics_rejects(d, k))],
        "files": str(LAYOUT.table_part("files", d, k)),
        "terms": [str(LAYOUT.phi_terms(d, k)), str(LAYOUT.phi_dataset_terms(d))],
    }


rule check_shard:
    input:
        unpack(check_shard_inputs),
    output:
        LAYOUT.shard_check("{dataset}", "{shard}"),
    params:
        folders=lambda wildcards, input: " ".join(f"--folder {f}" for f in input.folders),
        tables=lambda wildcards, input: " ".join(f"--table {t}" for t in input.tables),
        terms=lambda wildcards, input: " ".join(f"--terms {t}" for t in input.terms),
        options=as_json(config["checks"]),
    threads: 2
    log:
        LAYOUT.log("check_shard", "{dataset}-{shard}"),
    benchmark:
        LAYOUT.benchmark("check_shard", "{dataset}-{shard}")
    resources:
        mem_mb=2000,
        runtime=120,
    shell:
        "{PY} -m breastcurate check-shard --results {RESULTS:q} {params.folders} {params.tables}"
        " --files {input.files} {params.terms} --options {params.options:q} --out {output}"
        " --workers {threads} > {log} 2>&1"


GLOBAL_SCANNED = (
    [str(LAYOUT.split(v)) for v in SPLIT_VERSIONS]
    + [str(LAYOUT.split_card(v)) for v in SPLIT_VERSIONS]
    + all_parts(["coverage", "rejects"])
    + [str(LAYOUT.radiomics_rejects(d, k)) for d in DATASETS for k in SHARDS]
)


rule scan_global:
    input:
        scanned=GLOBAL_SCANNED,
        catalog=LAYOUT.catalog,
        terms=[str(LAYOUT.phi_terms(d, k)) for d in DATASETS for k in SHARDS],
    output:
        LAYOUT.global_scan,
    params:
        paths=lambda wildcards, input: " ".join(f"--path {p}" for p in [*input.scanned, input.catalog]),
    log:
        LAYOUT.log("scan_global", "all"),
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "{PY} -m breastcurate scan-global --results {RESULTS:q} {params.paths} --terms {input.terms}"
        " --out {output} > {log} 2>&1"


rule checks:
    input:
        catalog=LAYOUT.catalog,
        manifests=expand(LAYOUT.manifest("{dataset}"), dataset=DATASETS),
        shards=[str(LAYOUT.shard_check(d, k)) for d in DATASETS for k in SHARDS],
        scan=LAYOUT.global_scan,
    output:
        passed=LAYOUT.checks_passed,
        summary=LAYOUT.checks_summary,
        docs=directory(LAYOUT.data_docs),
    params:
        options=as_json(config["checks"]),
    log:
        LAYOUT.log("checks", "all"),
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "{PY} -m breastcurate checks --results {RESULTS:q} --manifest {input.manifests} --shard {input.shards}"
        " --scan {input.scan} --out {output.passed} --options {params.options:q} > {log} 2>&1"


rule qc:
    input:
        passed=LAYOUT.checks_passed,
        curated=dataset_folders,
    output:
        counts=report(
            LAYOUT.qc("{dataset}") / "counts.csv",
            caption="../workflow/report/counts.rst",
            category="1. Counts",
            subcategory="{dataset}",
        ),
        montage=report(
            LAYOUT.qc("{dataset}") / "montage.png",
            caption="../workflow/report/montage.rst",
            category="2. Thumbnails",
            subcategory="{dataset}",
        ),
        histograms=report(
            LAYOUT.qc("{dataset}") / "histograms.png",
            caption="../workflow/report/histograms.rst",
            category="3. Intensities",
            subcategory="{dataset}",
        ),
        rejects=report(
            LAYOUT.qc("{dataset}") / "rejects.csv",
            caption="../workflow/report/rejects.rst",
            category="4. Rejects",
            subcategory="{dataset}",
        ),
    params:
        out=str(LAYOUT.qc("{dataset}")),
    log:
        LAYOUT.log("qc", "{dataset}"),
    shell:
        "{PY} -m breastcurate qc {wildcards.dataset} --results {RESULTS:q} --out {params.out:q} > {log} 2>&1"


rule qc_summary:
    input:
        LAYOUT.checks_summary,
    output:
        checks=report(LAYOUT.qc_summary / "checks.csv", caption="../workflow/report/checks.rst", category="5. Data checks"),
        versions=report(
            LAYOUT.qc_summary / "versions.csv", caption="../workflow/report/versions.rst", category="6. Tool versions"
        ),
    params:
        out=LAYOUT.qc_summary,
    log:
        LAYOUT.log("qc", "summary"),
    shell:
        "{PY} -m breastcurate qc-summary --summary {input} --out {params.out:q} > {log} 2>&1"


localrules:
    merge_phi_terms,
    link_people,
    qc_summary,
