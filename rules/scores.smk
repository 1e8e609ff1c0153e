rule scores:
    input:
        unpack(get_score_inputs),
    output:
        "results/scores/{target}.parquet",
    log:
        "logs/scores/{target}.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
        gpu=GPUS,
    params:
        spec=get_score_params,
        device=EXP.device,
    script:
        "../workflow_scripts/scores.py"


rule score_matrix:
    input:
        get_score_tables,
    output:
        matrix="results/distances/{score}.parquet",
        floor="results/floors/{score}.parquet",
    log:
        "logs/score_matrix/{score}.log",
    wildcard_constraints:
        score=alternatives(SCORE_METHODS),
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        version=VERSIONS["scores"],
    script:
        "../workflow_scripts/score_matrix.py"
