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
        pairs=[(a, b) for a in TASKS for b in TASKS if a != b],
    script:
        "../workflow_scripts/score_matrix.py"
