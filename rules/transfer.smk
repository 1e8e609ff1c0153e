rule finetune:
    input:
        model="results/models/{source}.pt",
        dataset=get_target_dataset,
        task="results/tasks/{target}.parquet",
    output:
        transfer="results/transfer/{source}/{target}.json",
        scores="results/scores/{source}/{target}.json",
    log:
        "logs/finetune/{source}/{target}.log",
    benchmark:
        "benchmarks/finetune/{source}/{target}.tsv"
    group:
        "pairs"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        spec=get_transfer_params,
        device=EXP.device,
    script:
        "../workflow_scripts/finetune.py"


rule scratch:
    input:
        dataset=get_target_dataset,
        task="results/tasks/{target}.parquet",
    output:
        "results/transfer/_scratch/{target}.json",
    log:
        "logs/scratch/{target}.log",
    benchmark:
        "benchmarks/scratch/{target}.tsv"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        spec=get_transfer_params,
        device=EXP.device,
    script:
        "../workflow_scripts/scratch.py"


rule transfer_matrix:
    input:
        pairs=get_transfer_pairs,
        scratch=get_scratch_results,
    output:
        "results/transfer.parquet",
    log:
        "logs/transfer_matrix.log",
    benchmark:
        "benchmarks/transfer_matrix.tsv"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        pairs=[(a, b) for a in TASKS for b in TASKS if a != b],
        tasks=TASKS,
    script:
        "../workflow_scripts/transfer_matrix.py"
