rule tanas:
    input:
        source="results/models/{source}.pt",
        target="results/models/{target}.pt",
        dataset=get_target_dataset,
        task="results/tasks/{target}.parquet",
    output:
        "results/tanas/{source}/{target}.json",
    log:
        "logs/tanas/{source}/{target}.log",
    group:
        "pairs"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
        gpu=GPUS,
    params:
        spec=get_tanas_params,
        device=EXP.device,
    script:
        "../workflow_scripts/tanas.py"


rule tanas_matrix:
    input:
        unpack(get_tanas_inputs),
    output:
        matrix="results/distances/tanas.parquet",
        floor="results/floors/tanas.parquet",
    log:
        "logs/tanas_matrix.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        version=VERSIONS["tanas"],
    script:
        "../workflow_scripts/tanas_matrix.py"
