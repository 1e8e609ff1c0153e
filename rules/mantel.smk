rule mantel:
    input:
        matrices=get_method_matrices,
        transfer="results/transfer.parquet",
    output:
        "results/mantel.parquet",
    log:
        "logs/mantel.log",
    benchmark:
        "benchmarks/mantel.tsv"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        methods=list(EXP.methods),
        tasks=TASKS,
        spec=to_params(EXP.mantel),
        seed=stable_seed(EXP.seed, "mantel"),
    script:
        "../workflow_scripts/mantel.py"


rule selection:
    input:
        matrices=get_method_matrices,
        transfer="results/transfer.parquet",
    output:
        "results/selection.parquet",
    log:
        "logs/selection.log",
    benchmark:
        "benchmarks/selection.tsv"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        methods=list(EXP.methods),
        tasks=TASKS,
        seed=stable_seed(EXP.seed, "selection"),
    script:
        "../workflow_scripts/selection.py"
