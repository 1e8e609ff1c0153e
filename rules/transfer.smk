rule transfer:
    input:
        models=get_source_models,
        dataset=get_target_dataset,
        task="results/tasks/{target}.parquet",
    output:
        "results/transfer/{source}/{target}.json",
    log:
        "logs/transfer/{source}/{target}.log",
    group:
        "pairs"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=GPUS,
    params:
        spec=get_transfer_params,
        device=EXP.device,
    script:
        "../workflow_scripts/transfer.py"


rule scratch:
    input:
        dataset=get_target_dataset,
        task="results/tasks/{target}.parquet",
        weights=get_network_files,
    output:
        "results/transfer/_scratch/{target}.json",
    log:
        "logs/scratch/{target}.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=GPUS,
    params:
        spec=get_transfer_params,
        device=EXP.device,
    script:
        "../workflow_scripts/transfer.py"


rule transfer_matrix:
    input:
        pairs=get_transfer_pairs,
        scratch=get_scratch_results,
    output:
        table="results/transfer.parquet",
        reliability="results/reliability.parquet",
    log:
        "logs/transfer_matrix.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        seed=stable_seed(EXP.seed, "reliability"),
        versions=[VERSIONS["transfer"], VERSIONS["reliability"]],  # the table, its reliability
    script:
        "../workflow_scripts/transfer_matrix.py"
