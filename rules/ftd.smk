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


rule ftd_matrix:
    input:
        unpack(get_ftd_inputs),
    output:
        matrix="results/distances/ftd.parquet",
        floor="results/floors/ftd.parquet",
    log:
        "logs/ftd_matrix/ftd.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        version=VERSIONS["ftd"],
    script:
        "../workflow_scripts/ftd_matrix.py"
