# De-identification: one job per (dataset, shard), reading each listed file once: its inventory row (header fields,
# SHA-256, or a reject with the reason), then the de-identified file, audit and linkage, all restricted. The job also
# keeps the PHI values of the raw headers, for the PHI scan; a per-dataset checkpoint merges the dataset-wide ones
# (institutions, stations, physicians, addresses, phones). The de-identified DICOM has a folder of its own: only
# conversion reads it, and unless `deid.keep_dicom` is set it is temporary (deleted once its shard is converted).


rule deidentify:
    input:
        LAYOUT.listing("{dataset}", "{shard}"),
    output:
        deid=directory(LAYOUT.deid("{dataset}", "{shard}")),
        dicom=deid_dicom(LAYOUT.deid_dicom("{dataset}", "{shard}")),
        inventory=LAYOUT.inventory_shard("{dataset}", "{shard}"),
        rejects=LAYOUT.inventory_rejects("{dataset}", "{shard}"),
        terms=LAYOUT.phi_terms("{dataset}", "{shard}"),
    log:
        LAYOUT.log("deidentify", "{dataset}-{shard}"),
    benchmark:
        LAYOUT.benchmark("deidentify", "{dataset}-{shard}")
    conda:
        "../environment.yml"
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        raw=raw_root_param,
        key=deid_key_args(),
        options=" ".join(
            f"--option {k}" if v else f"--no-option {k}" for k, v in sorted(config["deid"]["options"].items())
        ),
    shell:
        "python -m breastcurate deidentify-shard {wildcards.dataset} --listing {input} --raw {params.raw:q}"
        " --out {output.deid} --dicom {output.dicom} --inventory {output.inventory} --inventory-rejects {output.rejects}"
        " --terms {output.terms} {params.key} {params.options} > {log} 2>&1"


checkpoint merge_phi_terms:
    input:
        shard_terms,
    output:
        update(str(LAYOUT.phi_dataset_terms("{dataset}"))),
    log:
        LAYOUT.log("merge_phi_terms", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("merge_phi_terms", "{dataset}")
    conda:
        "../environment.yml"
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m breastcurate merge-phi-terms {input} --out {output} > {log} 2>&1"
