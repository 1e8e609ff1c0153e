rule train_task:
    input:
        dataset=get_task_dataset,
        task="results/tasks/{task}.parquet",
        weights=get_network_files,
    output:
        "results/models/{task}.pt",
    log:
        "logs/train_task/{task}.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS,
    params:
        spec=get_train_params,
        device=EXP.device,
    script:
        "../workflow_scripts/train_task.py"


rule train_variant:
    input:
        dataset=get_task_dataset,
        task="results/tasks/{task}.parquet",
        weights=get_network_files,
    output:
        "results/models/{task}@{variant}.pt",
    log:
        "logs/train_variant/{task}@{variant}.log",
    wildcard_constraints:
        task=alternatives(TASKS),
        variant=alternatives(VARIANTS),
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS,
    params:
        spec=get_variant_params,
        device=EXP.device,
    script:
        "../workflow_scripts/train_task.py"
