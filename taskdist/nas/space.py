"""Cells as plain data (:class:`Genotype`) and spaces of cells (:class:`SearchSpace`).

A cell is a DAG over ``nodes`` nodes. Node 0 is the cell's input; every
other node ``j`` is the sum of its incoming edges ``op(state_i)``, ``i < j``;
the cell's output is the last node. Each edge carries one operation of
:data:`taskdist.nas.ops.OPS`. Sampled cells are complete DAGs (an edge from
every node to every later one, ``none`` standing for a missing edge), as in
the reference FUSE code; a genotype read from JSON may have any edge set as
long as every non-input node has an incoming edge.

JSON form of a genotype (what ``results/nas/...`` stores)::

    {"nodes": 3, "edges": [{"from": 0, "to": 1, "op": "sep_conv_3x3"},
                           {"from": 0, "to": 2, "op": "skip_connect"},
                           {"from": 1, "to": 2, "op": "max_pool_3x3"}]}
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np

from taskdist.checks import is_int
from taskdist.nas.ops import OP_NAMES, OPS

Edge = tuple[int, int, str]  # (from node, to node, operation)


@dataclass(frozen=True)
class Genotype:
    """One cell: ``nodes`` nodes and the operation on each edge.

    Parameters
    ----------
    nodes
        Number of nodes including the input node 0; at least 2.
    edges
        ``(from, to, op)`` triples with ``0 <= from < to < nodes``, at most one
        per node pair; stored sorted by ``(to, from)`` so equal cells compare equal.

    Raises
    ------
    ValueError
        On an unknown operation, an edge out of range or backwards, a repeated
        node pair, or a non-input node without incoming edge.
    """

    nodes: int
    edges: tuple[Edge, ...]

    def __post_init__(self) -> None:
        if not is_int(self.nodes) or self.nodes < 2:
            raise ValueError(f"a cell needs an integer number of nodes >= 2, got {self.nodes!r}")
        object.__setattr__(self, "nodes", int(self.nodes))
        edges = []
        for edge in self.edges:
            if len(edge) != 3:
                raise ValueError(f"an edge is (from, to, op), got {edge!r}")
            i, j, op = int(edge[0]), int(edge[1]), str(edge[2])
            if not 0 <= i < j < self.nodes:
                raise ValueError(f"edge {edge!r}: need 0 <= from < to < nodes = {self.nodes}")
            if op not in OPS:
                raise ValueError(f"edge {edge!r}: unknown operation {op!r}; known: {', '.join(OP_NAMES)}")
            edges.append((i, j, op))
        edges.sort(key=lambda e: (e[1], e[0]))
        pairs = [(i, j) for i, j, _ in edges]
        if len(set(pairs)) != len(pairs):
            raise ValueError(f"a cell has at most one edge per node pair, got {edges}")
        orphans = sorted(set(range(1, self.nodes)) - {j for _, j, _ in edges})
        if orphans:
            raise ValueError(f"nodes {orphans} have no incoming edge")
        object.__setattr__(self, "edges", tuple(edges))

    @property
    def ops(self) -> tuple[str, ...]:
        """The operation of every edge, in edge order."""
        return tuple(op for _, _, op in self.edges)

    def to_dict(self) -> dict:
        return {"nodes": self.nodes, "edges": [{"from": i, "to": j, "op": op} for i, j, op in self.edges]}

    def to_json(self) -> str:
        """Compact, key-sorted JSON: equal genotypes give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, value: dict) -> Genotype:
        if not isinstance(value, dict) or set(value) != {"nodes", "edges"}:
            raise ValueError(f"a genotype is a mapping with keys 'nodes' and 'edges', got {value!r}")
        edges = []
        for edge in value["edges"]:
            if not isinstance(edge, dict) or set(edge) != {"from", "to", "op"}:
                raise ValueError(f"an edge is a mapping with keys 'from', 'to', 'op', got {edge!r}")
            edges.append((edge["from"], edge["to"], edge["op"]))
        return cls(value["nodes"], tuple(edges))

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class SearchSpace:
    """A set of operations with sampling weights; a cell is sampled edge by edge.

    Parameters
    ----------
    ops
        Distinct operation names from :data:`~taskdist.nas.ops.OPS`.
    weights
        One positive weight per operation; sampling probabilities are the
        weights normalised to sum 1.
    """

    ops: tuple[str, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        ops, weights = tuple(self.ops), tuple(float(w) for w in self.weights)
        if not ops:
            raise ValueError("a search space needs at least one operation")
        unknown = [op for op in ops if op not in OPS]
        if unknown:
            raise ValueError(f"unknown operations {unknown}; known: {', '.join(OP_NAMES)}")
        if len(set(ops)) != len(ops):
            raise ValueError(f"operations must be distinct, got {ops}")
        if len(weights) != len(ops):
            raise ValueError(f"need one weight per operation: {len(ops)} operations, {len(weights)} weights")
        if not all(math.isfinite(w) and w > 0 for w in weights):
            raise ValueError(f"weights must be finite and positive, got {weights}")
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "weights", weights)

    @property
    def probabilities(self) -> np.ndarray:
        w = np.asarray(self.weights, dtype=np.float64)
        return w / w.sum()

    @classmethod
    def full(cls) -> SearchSpace:
        """Every operation, uniformly."""
        return cls(OP_NAMES, (1.0,) * len(OP_NAMES))

    @classmethod
    def task_aware(cls, genotypes: Iterable[Genotype], *, exclude: Collection[str] = ()) -> SearchSpace:
        """The space spanned by some (base tasks' best) cells.

        The operations are those used on the edges of ``genotypes`` (minus
        ``exclude``), weighted by how many edges use them; an operation no
        cell uses is not in the space. Operations are listed in canonical
        order. ``none`` counts like any other operation (in a complete DAG it
        is the choice "no edge"); pass ``exclude=("none",)`` to drop it.
        """
        genotypes = list(genotypes)
        if not genotypes:
            raise ValueError("a task-aware space needs at least one genotype")
        unknown = set(exclude) - set(OPS)
        if unknown:
            raise ValueError(f"cannot exclude unknown operations {sorted(unknown)}")
        counts = Counter(op for g in genotypes for op in g.ops if op not in exclude)
        if not counts:
            raise ValueError(f"the genotypes use no operation outside exclude={sorted(exclude)}")
        ops = tuple(op for op in OP_NAMES if op in counts)
        return cls(ops, tuple(float(counts[op]) for op in ops))

    def sample(self, rng: np.random.Generator, nodes: int) -> Genotype:
        """A complete DAG on ``nodes`` nodes, each edge's operation drawn independently by weight."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if not is_int(nodes) or nodes < 2:
            raise ValueError(f"a cell needs an integer number of nodes >= 2, got {nodes!r}")
        pairs = [(i, j) for j in range(1, nodes) for i in range(j)]
        picks = rng.choice(len(self.ops), size=len(pairs), p=self.probabilities)
        return Genotype(nodes, tuple((i, j, self.ops[k]) for (i, j), k in zip(pairs, picks, strict=True)))

    def to_dict(self) -> dict:
        return {"ops": list(self.ops), "weights": list(self.weights)}

    @classmethod
    def from_dict(cls, value: dict) -> SearchSpace:
        if not isinstance(value, dict) or set(value) != {"ops", "weights"}:
            raise ValueError(f"a search space is a mapping with keys 'ops' and 'weights', got {value!r}")
        return cls(tuple(value["ops"]), tuple(value["weights"]))
