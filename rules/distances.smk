rule distance_matrix:
    input:
        unpack(get_ftd_inputs),
    output:
        matrix="results/distances/ftd.parquet",
        floor="results/floors/ftd.parquet",
    log:
        "logs/distance_matrix/ftd.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        version=VERSIONS["ftd"],
    script:
        "../workflow_scripts/ftd.py"


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


rule ftd_consistency:
    input:
        matrix="results/distances/ftd.parquet",
        pairs=get_variant_fisher,
    output:
        "results/consistency.parquet",
    log:
        "logs/ftd_consistency.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=to_params(EXP.mantel),
        seed=stable_seed(EXP.seed, "consistency"),
        version=VERSIONS["evaluation"],
    script:
        "../workflow_scripts/ftd_consistency.py"


rule path_length:
    input:
        unpack(get_pair_inputs),
    output:
        PATH_FILE,
    log:
        "logs/paths/{length}/{source}/{target}.log",
    wildcard_constraints:
        length=alternatives(PATH_METHODS),
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
        spec=get_path_params,
        device=EXP.device,
    script:
        "../workflow_scripts/path_length.py"


rule path_matrix:
    input:
        unpack(get_path_matrix_inputs),
    output:
        matrix="results/distances/{length}.parquet",
        floor="results/floors/{length}.parquet",
    log:
        "logs/path_matrix/{length}.log",
    wildcard_constraints:
        length=alternatives(PATH_METHODS),
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        version=VERSIONS["paths"],
    script:
        "../workflow_scripts/path_matrix.py"


rule transfer_bound:
    input:
        unpack(get_pair_inputs),
    output:
        "results/bound/{source}/{target}.json",
    log:
        "logs/bound/{source}/{target}.log",
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
        spec=get_bound_params,
        device=EXP.device,
    script:
        "../workflow_scripts/bound.py"


rule bound_matrix:
    input:
        unpack(get_bound_inputs),
    output:
        matrix="results/distances/transfer_bound.parquet",
        floor="results/floors/transfer_bound.parquet",
        plot=report(
            "results/plots/bound_terms.png",
            caption="../report/bound.rst",
            category="Task distances",
        ),
    log:
        "logs/bound_matrix.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        version=VERSIONS["bound"],
    script:
        "../workflow_scripts/bound_matrix.py"
