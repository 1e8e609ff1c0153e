rule plot_transfer:
    input:
        "results/transfer.parquet",
    output:
        report(
            "results/plots/transfer_{value}.png",
            caption="../report/transfer.rst",
            category="Ground truth",
            labels={"value": "{value}"},
        ),
    log:
        "logs/plot_transfer/{value}.log",
    benchmark:
        "benchmarks/plot_transfer/{value}.tsv"
    wildcard_constraints:
        value="accuracy|gain",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        tasks=TASKS,
    script:
        "../workflow_scripts/plot_transfer.py"


rule plot_method:
    input:
        matrix="results/distances/{method}.parquet",
        transfer="results/transfer.parquet",
        mantel="results/mantel.parquet",
    output:
        heatmap=report(
            "results/plots/{method}.png",
            caption="../report/matrix.rst",
            category="Task distances",
            labels={"method": "{method}"},
        ),
        atlas=report(
            "results/plots/atlas/{method}.png",
            caption="../report/atlas.rst",
            category="Task atlas",
            labels={"method": "{method}"},
        ),
        mantel=report(
            "results/plots/mantel/{method}.png",
            caption="../report/mantel.rst",
            category="Mantel tests",
            labels={"method": "{method}"},
        ),
    log:
        "logs/plot_method/{method}.log",
    benchmark:
        "benchmarks/plot_method/{method}.tsv"
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        tasks=TASKS,
        seed=stable_seed(EXP.seed, "atlas"),
    script:
        "../workflow_scripts/plot_method.py"
