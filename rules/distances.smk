rule distance_matrix:
    input:
        get_ftd_inputs,
    output:
        "results/distances/ftd.parquet",
    log:
        "logs/distance_matrix/ftd.log",
    benchmark:
        "benchmarks/distance_matrix/ftd.tsv"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        tasks=TASKS,
    script:
        "../workflow_scripts/ftd.py"


rule score_matrix:
    input:
        get_score_pairs,
    output:
        "results/distances/{score}.parquet",
    log:
        "logs/score_matrix/{score}.log",
    benchmark:
        "benchmarks/score_matrix/{score}.tsv"
    wildcard_constraints:
        score=alternatives(SCORE_METHODS),
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        name=lambda wildcards: wildcards.score,
        pairs=[(a, b) for a in TASKS for b in TASKS if a != b],
        zero_diagonal=[],
    script:
        "../workflow_scripts/pair_matrix.py"


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
    benchmark:
        "benchmarks/tanas/{source}/{target}.tsv"
    group:
        "pairs"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        spec=get_tanas_params,
        device=EXP.device,
    script:
        "../workflow_scripts/tanas.py"


rule tanas_matrix:
    input:
        get_tanas_pairs,
    output:
        "results/distances/tanas.parquet",
    log:
        "logs/tanas_matrix.log",
    benchmark:
        "benchmarks/tanas_matrix.tsv"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        name="tanas",
        pairs=[(a, b) for a in TASKS for b in TASKS if a != b],
        zero_diagonal=TASKS,
    script:
        "../workflow_scripts/pair_matrix.py"
