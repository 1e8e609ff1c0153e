rule train_probe:
    input:
        datasets=get_probe_datasets,
        tasks=get_probe_tables,
        weights=get_network_files,
    output:
        "results/task2vec/_probe.pt",
    log:
        "logs/train_probe.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS,
    params:
        spec=get_probe_params,
        device=EXP.device,
    script:
        "../workflow_scripts/train_probe.py"


rule task2vec_embed:
    input:
        probe=get_probe_files,
        dataset=get_task_dataset,
        task="results/tasks/{task}.parquet",
    output:
        "results/task2vec/{task}.parquet",
    log:
        "logs/task2vec_embed/{task}.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=GPUS,
    params:
        spec=get_task2vec_params,
        device=EXP.device,
    script:
        "../workflow_scripts/task2vec_embed.py"


rule task2vec_trivial:
    input:
        probe=get_probe_files,
    output:
        "results/task2vec/_trivial.parquet",
    log:
        "logs/task2vec_trivial.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=TRIVIAL_PARAMS,
        in_channels=EXP.image.channels,
        version=VERSIONS["task2vec"],
    script:
        "../workflow_scripts/task2vec_trivial.py"


rule task2vec_matrix:
    input:
        embeddings=get_task2vec_embeddings,
        floors=get_task2vec_floors,
        trivial="results/task2vec/_trivial.parquet",
    output:
        sym="results/distances/task2vec.parquet",
        asym="results/distances/task2vec_asym.parquet",
        sym_floor="results/floors/task2vec.parquet",
        asym_floor="results/floors/task2vec_asym.parquet",
    log:
        "logs/task2vec_matrix.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        alpha=EXP.task2vec.alpha,
        version=VERSIONS["task2vec"],
    script:
        "../workflow_scripts/task2vec_matrix.py"
