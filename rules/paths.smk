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
