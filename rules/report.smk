rule plot_transfer:
    input:
        "results/transfer.parquet",
    output:
        report(
            "results/plots/transfer/{setting}_{value}.png",
            caption="../report/transfer.rst",
            category="Ground truth",
            labels={"setting": "{setting}", "value": "{value}"},
        ),
    log:
        "logs/plot_transfer/{setting}_{value}.log",
    wildcard_constraints:
        setting="finetune|linear",
        value="accuracy|gain",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        tasks=TASKS,
        version=VERSIONS["plots"],
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
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        tasks=TASKS,
        settings=list(EXP.transfer.settings),
        seed=stable_seed(EXP.seed, "atlas"),
        version=VERSIONS["plots"],
    script:
        "../workflow_scripts/plot_method.py"


rule plot_paths:
    input:
        get_plotted_paths,
    output:
        report(
            "results/plots/paths.png",
            caption="../report/paths.rst",
            category="Task distances",
        ),
    log:
        "logs/plot_paths.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        version=VERSIONS["plots"],
    script:
        "../workflow_scripts/plot_paths.py"


rule summary_page:
    input:
        mantel="results/mantel.parquet",
        reliability="results/reliability.parquet",
        floors="results/floors.parquet",
        selection="results/selection.parquet",
    output:
        report(
            "results/report/summary.html",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "logs/summary_page.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        methods=list(EXP.methods),
        settings=SUMMARY_SETTINGS,
        version=VERSIONS["summary"],
    script:
        "../workflow_scripts/summary_page.py"
