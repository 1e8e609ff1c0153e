rule mantel:
    input:
        matrices=get_method_matrices,
        transfer="results/transfer.parquet",
    output:
        table="results/mantel.parquet",
        comparison="results/mantel_comparison.parquet",
    log:
        "logs/mantel.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        tasks=TASKS,
        spec=to_params(EXP.mantel),
        seed=stable_seed(EXP.seed, "mantel"),
        version=VERSIONS["evaluation"],
    script:
        "../workflow_scripts/mantel.py"


rule selection:
    input:
        matrices=get_method_matrices,
        transfer="results/transfer.parquet",
        models=expand("results/models/{task}.pt", task=TASKS),
        tasks=expand("results/tasks/{task}.parquet", task=TASKS),
    output:
        "results/selection.parquet",
    log:
        "logs/selection.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        tasks=TASKS,
        seed=stable_seed(EXP.seed, "selection"),
        version=VERSIONS["evaluation"],
    script:
        "../workflow_scripts/selection.py"


rule noise_floors:
    input:
        unpack(get_floor_inputs),
    output:
        table="results/floors.parquet",
        targets="results/floors_targets.parquet",
    log:
        "logs/noise_floors.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        version=VERSIONS["floors"],
    script:
        "../workflow_scripts/noise_floors.py"


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
