rule fisher:
    input:
        model="results/models/{net}.pt",
        dataset=get_fisher_dataset,
        task="results/tasks/{data}.parquet",
    output:
        "results/fisher/{net}/{data}.parquet",
    log:
        "logs/fisher/{net}/{data}.log",
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
        spec=get_fisher_params,
        device=EXP.device,
    script:
        "../workflow_scripts/fisher.py"
