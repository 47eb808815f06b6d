# Data checks that gate the run. Per shard: the shard's curated files are verified against the files table and
# scanned for the PHI values of its own patients plus the dataset-wide ones (a hit fails the job; its masked report
# is in the restricted log). Once: the files no shard owns are scanned for every shard's values, then every Great
# Expectations suite runs over the tables (one job, so GX is imported once) and a gate step stops the run on a
# failed one. QC for the report, per dataset.
rule check_shard:
    input:
        unpack(check_shard_inputs),
    output:
        LAYOUT.shard_check("{dataset}", "{shard}"),
    log:
        LAYOUT.log("check_shard", "{dataset}-{shard}"),
    benchmark:
        LAYOUT.benchmark("check_shard", "{dataset}-{shard}")
    conda:
        "../environment.yml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        results=results_param,
        folders=lambda wildcards, input: " ".join(f"--folder {f}" for f in input.folders),
        tables=lambda wildcards, input: " ".join(f"--table {t}" for t in input.tables),
        terms=lambda wildcards, input: " ".join(f"--terms {t}" for t in input.terms),
        # only the key this job reads: a change to another checks key re-runs the checks job, not every shard's
        options=as_json({"verify_sha256": config["checks"]["verify_sha256"]}),
    shell:
        "python -m breastcurate check-shard --results {params.results:q} {params.folders} {params.tables}"
        " --files {input.files} {params.terms} --options {params.options:q} --out {output}"
        " --workers {threads} > {log} 2>&1"


rule scan_global:
    input:
        scanned=GLOBAL_SCANNED,
        catalog=LAYOUT.catalog,
        terms=[str(LAYOUT.phi_terms(d, k)) for d in DATASETS for k in SHARDS],
    output:
        LAYOUT.global_scan,
    log:
        LAYOUT.log("scan_global", "all"),
    benchmark:
        LAYOUT.benchmark("scan_global", "all")
    conda:
        "../environment.yml"
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        results=results_param,
        paths=lambda wildcards, input: " ".join(f"--path {p}" for p in [*input.scanned, input.catalog]),
    shell:
        "python -m breastcurate scan-global --results {params.results:q} {params.paths} --terms {input.terms}"
        " --out {output} > {log} 2>&1"


rule checks:
    input:
        catalog=LAYOUT.catalog,
        parts=catalog_parts(),
        manifests=expand(LAYOUT.manifest("{dataset}"), dataset=DATASETS),
        shards=[str(LAYOUT.shard_check(d, k)) for d in DATASETS for k in SHARDS],
        scan=LAYOUT.global_scan,
    output:
        summary=LAYOUT.checks_summary,
        docs=directory(LAYOUT.data_docs),
    log:
        LAYOUT.log("checks", "all"),
    benchmark:
        LAYOUT.benchmark("checks", "all")
    conda:
        "../environment.yml"
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        results=results_param,
        scope=SCOPE_ARGS,
        options=as_json(config["checks"]),
    shell:
        "python -m breastcurate checks --results {params.results:q} {params.scope} --manifest {input.manifests} --shard {input.shards}"
        " --scan {input.scan} --options {params.options:q} > {log} 2>&1"


# The checks job writes its verdict with the details (summary, Data Docs); this step fails the run on it, so that
# the details of a failed check stay (Snakemake removes a failed job's outputs).
rule checks_gate:
    input:
        LAYOUT.checks_summary,
    output:
        LAYOUT.checks_passed,
    log:
        LAYOUT.log("checks", "gate"),
    conda:
        "../environment.yml"
    params:
        results=results_param,
    shell:
        "python -m breastcurate checks-gate --results {params.results:q} > {log} 2>&1"


rule qc:
    input:
        passed=LAYOUT.checks_passed,
        parts=dataset_parts,
        curated=dataset_folders,
    output:
        # Tables twice: CSV for programs, HTML for the report (shown on its first page, see workflow/report).
        counts=LAYOUT.qc("{dataset}") / "counts.csv",
        counts_table=report(
            LAYOUT.qc("{dataset}") / "counts.html",
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
        rejects=LAYOUT.qc("{dataset}") / "rejects.csv",
        rejects_table=report(
            LAYOUT.qc("{dataset}") / "rejects.html",
            caption="../workflow/report/rejects.rst",
            category="4. Rejects",
            subcategory="{dataset}",
        ),
    log:
        LAYOUT.log("qc", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("qc", "{dataset}")
    conda:
        "../environment.yml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        results=results_param,
        n_shards=len(SHARDS),
        out=str(LAYOUT.qc("{dataset}")),
    shell:
        "python -m breastcurate qc {wildcards.dataset} --results {params.results:q} --n-shards {params.n_shards}"
        " --out {params.out:q} > {log} 2>&1"


rule qc_summary:
    input:
        LAYOUT.checks_summary,
    output:
        checks=LAYOUT.qc_summary / "checks.csv",
        checks_table=report(
            LAYOUT.qc_summary / "checks.html", caption="../workflow/report/checks.rst", category="5. Data checks"
        ),
        versions=LAYOUT.qc_summary / "versions.csv",
        versions_table=report(
            LAYOUT.qc_summary / "versions.html", caption="../workflow/report/versions.rst", category="6. Tool versions"
        ),
    log:
        LAYOUT.log("qc", "summary"),
    benchmark:
        LAYOUT.benchmark("qc", "summary")
    conda:
        "../environment.yml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        out=LAYOUT.qc_summary,
    shell:
        "python -m breastcurate qc-summary --summary {input} --out {params.out:q} > {log} 2>&1"


localrules:
    checks_gate,
    merge_phi_terms,
    link_people,
    qc_summary,
