from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# gpu: a limit given with --resources (the SLURM profile: gpu=1) holds per submitted job or group, not for
# the whole run, so a group of pair jobs asks for one GPU and runs its members on it.
resource_scopes:
    gpu="local",


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/ftd.smk"
include: "rules/task2vec.smk"
include: "rules/scores.smk"
include: "rules/tanas.smk"
include: "rules/paths.smk"
include: "rules/bound.smk"
include: "rules/transfer.smk"
include: "rules/evaluation.smk"
include: "rules/nas.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
