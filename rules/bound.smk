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
        "../workflow_scripts/transfer_bound.py"


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
