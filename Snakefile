from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/fisher.smk"
include: "rules/distances.smk"
include: "rules/task2vec.smk"
include: "rules/transfer.smk"
include: "rules/mantel.smk"
include: "rules/nas.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
