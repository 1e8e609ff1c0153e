"""taskdist: distances between learning tasks, and whether they predict transfer."""

__version__ = "0.1.0"
