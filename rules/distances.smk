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


rule plot_matrix:
    input:
        "results/distances/{method}.parquet",
    output:
        report(
            "results/plots/{method}.png",
            caption="../report/matrix.rst",
            category="Task distances",
            labels={"method": "{method}"},
        ),
    log:
        "logs/plot_matrix/{method}.log",
    benchmark:
        "benchmarks/plot_matrix/{method}.tsv"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        tasks=TASKS,
    script:
        "../workflow_scripts/plot_matrix.py"
