rule fisher:
    input:
        model="results/models/{net}.pt",
        dataset=get_fisher_dataset,
        task="results/tasks/{data}.parquet",
    output:
        "results/fisher/{net}/{data}.parquet",
    params:
        spec=get_fisher_params,
        device=EXP.device,
    log:
        "logs/fisher/{net}/{data}.log",
    benchmark:
        "benchmarks/fisher/{net}/{data}.tsv"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    script:
        "../workflow_scripts/fisher.py"
