"""rule summary_page: the report's first page, the run's headline numbers from its own tables."""

from taskdist import summary_page
from taskdist.artifacts import io
from taskdist.runtime import finish, start

start(snakemake)
text = summary_page.page(
    mantel=io.read_parquet(snakemake.input.mantel),
    reliability=io.read_parquet(snakemake.input.reliability),
    floors=io.read_parquet(snakemake.input.floors),
    selection=io.read_parquet(snakemake.input.selection),
    methods=list(snakemake.params.methods),
    settings=dict(snakemake.params.settings),
    code=summary_page.commit(),  # the code that writes the page (not a param: a new commit reruns nothing)
)
summary_page.write(text, snakemake.output[0])
finish()
