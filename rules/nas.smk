rule nas_base:
    input:
        dataset=get_nas_base_task_dataset,
        task="results/tasks/{task}.parquet",
    output:
        "results/nas/base/{task}.json",
    log:
        "logs/nas_base/{task}.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS,
    params:
        spec=get_nas_params,
        search="full",
        device=EXP.device,
    script:
        "../workflow_scripts/nas_search.py"


checkpoint nas_bases:
    input:
        f"results/distances/{NAS.method}.parquet",
    output:
        "results/nas/target/{target}/bases.json",
    log:
        "logs/nas_bases/{target}.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        bases=list(NAS.base_tasks),
        k=NAS.k,
        method=NAS.method,
        version=VERSIONS["nas"],
    script:
        "../workflow_scripts/nas_bases.py"


# One job per (target, search, seed): adding a seed runs only that seed's searches.
rule nas_target:
    input:
        dataset=get_target_dataset,
        task="results/tasks/{target}.parquet",
        bases=get_nas_search_bases,
    output:
        "results/nas/target/{target}/{search}/{seed}.json",
    log:
        "logs/nas_target/{target}/{search}/{seed}.log",
    wildcard_constraints:
        seed=r"\d+",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS,
    params:
        spec=get_nas_params,
        search=lambda wildcards: wildcards.search,
        device=EXP.device,
    script:
        "../workflow_scripts/nas_search.py"


rule nas_summary:
    input:
        get_nas_results,
    output:
        table="results/nas/summary.parquet",
        curves="results/nas/curves.parquet",
        reach="results/nas/reach.parquet",
        paired="results/nas/paired.parquet",
        winners="results/nas/winners.parquet",
        plot=report(
            "results/plots/nas.png",
            caption="../report/nas.rst",
            category="Architecture search",
        ),
        curves_plot=report(
            "results/plots/nas_curves.png",
            caption="../report/nas_curves.rst",
            category="Architecture search",
        ),
    log:
        "logs/nas_summary.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        compare_at=NAS.compare_at,
        level=NAS.level,
        version=VERSIONS["plots"],
        claim=VERSIONS["nas_claim"],
    script:
        "../workflow_scripts/nas_summary.py"
