rule prepare_dataset:
    output:
        "resources/datasets/{dataset}/{cls}.npz",
    log:
        "logs/prepare_dataset/{dataset}/{cls}.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=get_dataset_params,
        version=VERSIONS["dataset"],
    script:
        "../workflow_scripts/prepare_dataset.py"


rule make_task:
    input:
        dataset=get_task_dataset,
    output:
        "results/tasks/{task}.parquet",
    log:
        "logs/make_task/{task}.log",
    conda:
        "../envs/taskdist.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        task=get_task_params,
        version=VERSIONS["task"],
    script:
        "../workflow_scripts/make_task.py"
