"""Every file format of the workflow, one owner each: a writer, a validating reader and a version.
Imports the floor and :mod:`taskdist.nets` (checkpoints rebuild networks)."""
