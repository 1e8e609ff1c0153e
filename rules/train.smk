rule train_task:
    input:
        dataset=get_task_dataset,
        task="results/tasks/{task}.parquet",
    output:
        "results/models/{task}.pt",
    params:
        spec=get_train_params,
        device=EXP.device,
    log:
        "logs/train_task/{task}.log",
    benchmark:
        "benchmarks/train_task/{task}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../workflow_scripts/train_task.py"
