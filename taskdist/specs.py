"""The experiment as typed, frozen specs: what the stages receive.

:func:`taskdist.config.from_dict` builds an :class:`Experiment` from a checked
config; the specs check nothing themselves (the config layer does, once). A
job gets its specs as plain builtins (:func:`to_params`: what Snakemake compares
to decide whether the job is stale) and rebuilds them with :func:`from_params`.

Why one module of over 600 lines: it is the floor every layer imports, and the specs are read
together as the experiment's vocabulary (:class:`Experiment` holds them all); they are plain frozen
dataclasses with docstrings, no logic to split.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import asdict, dataclass

import numpy as np

from taskdist.seeds import stable_seed

POOLS = ("train", "val", "test")
"""Names of the pools, indexed by the values of :attr:`Dataset.pool`."""


@dataclass(frozen=True)
class SplitSpec:
    """How a dataset divides each class's images into train / val / test pools.

    Parameters
    ----------
    train, val
        Fractions of each class's images that go to the train and val pools.
        For a dataset with its own test file, fractions of each class's
        *train-file* images (``train = 1 - val``).
    test
        Fraction that goes to the test pool; None for a dataset whose own
        test file is the test pool.

    Fractions in (0, 1) summing to 1: checked by the config's schema and by
    :func:`taskdist.data.pools.check_split` where a split is used, not here.
    """

    train: float
    val: float
    test: float | None = None

    @classmethod
    def of_train_part(cls, val: float) -> SplitSpec:
        """Split of a dataset with its own test file: ``val`` of each class's train file held out for validation."""
        return cls(train=1.0 - val, val=val, test=None)

    @property
    def own_test_part(self) -> bool:
        """True if the dataset's own test file is the test pool."""
        return self.test is None


@dataclass(frozen=True)
class ImageSpec:
    """Canonical image shape every dataset is brought to.

    Parameters
    ----------
    size
        Height and width in pixels, at least 8.
    channels
        1 (grayscale) or 3 (RGB).

    Checked by the config's schema and by :func:`taskdist.data.datasets.check_image` where images are made,
    not here.
    """

    size: int = 28
    channels: int = 1


@dataclass(frozen=True)
class ArchSpec:
    """Shape of a task network.

    Parameters
    ----------
    widths
        Output channels of each convolutional stage; every stage ends with a
        2x2 max pool, so ``len(widths)`` is the depth in stages.
    convs_per_stage
        Number of 3x3 convolution + ReLU layers in each stage.
    pool
        Side of the grid the last feature maps are average-pooled to (any
        input size gives ``pool x pool`` positions, keeping coarse layout).
    hidden
        Width of the fully connected feature layer that closes the body.
    """

    widths: tuple[int, ...]
    convs_per_stage: int
    pool: int
    hidden: int


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel input normalisation of a torchvision backbone whose weights do not name their own (ImageNet's)."""


@dataclass(frozen=True)
class BackboneSpec:
    """A torchvision classification architecture as task network (:class:`taskdist.nets.models.BackboneNet`).

    Parameters
    ----------
    arch
        Name from ``torchvision.models.list_models(module=torchvision.models)``, e.g. ``"resnet18"``.
    weights
        None: random initialisation from the network's seed; a torchvision weights name in full,
        ``"ResNet18_Weights.IMAGENET1K_V1"`` (the config resolves ``DEFAULT`` and bare member names);
        otherwise the path of a state dict of the architecture (:func:`weights_kind`).
    mean, std
        Per-channel (RGB) normalisation of the [0, 1] images: the weights' own for a torchvision
        weights name, the config's otherwise.
    """

    arch: str
    weights: str | None
    mean: tuple[float, ...]
    std: tuple[float, ...]


def weights_kind(weights: str | None) -> str | None:
    """How a :class:`BackboneSpec`'s (resolved) ``weights`` are obtained: None (random), ``"torchvision"`` (a
    full weights name, ``ResNet18_Weights.IMAGENET1K_V1``) or ``"file"`` (a path, e.g. ``w/resnet18.pth``)."""
    if weights is None:
        return None
    return "torchvision" if re.fullmatch(r"[A-Za-z0-9]+_Weights\.[A-Za-z0-9_]+", weights) else "file"


def network_files(spec: ArchSpec | BackboneSpec | None) -> list[str]:
    """The files a task network is built from: a backbone's weights file, if it has one (a job input)."""
    if isinstance(spec, BackboneSpec) and weights_kind(spec.weights) == "file":
        return [spec.weights]
    return []


NetworkSpec = ArchSpec | BackboneSpec
"""Any task network's spec; :func:`from_params` tells the two apart by their keys."""


RESAMPLE_SUFFIX = "@resample"
"""Appended to a task's id to name its resample (:func:`resample`); user task ids cannot contain ``@``."""


@dataclass(frozen=True)
class TaskSpec:
    """One classification task.

    ``label_map[i]`` lists the original classes of ``dataset`` that become
    label ``i``; ``samples_per_class`` examples are drawn per new label,
    spread evenly over its original classes (:meth:`draws_per_class`), and
    divided over train / val / test in the proportions of the dataset's pools
    (:meth:`split_counts`).

    ``split`` is not the task's to choose: it is the dataset's
    :class:`SplitSpec`, copied here so that a change of the
    dataset's split changes the task's params.
    """

    id: str
    dataset: str
    label_map: tuple[tuple[int, ...], ...]
    label_names: tuple[str, ...]
    samples_per_class: int
    split: SplitSpec
    seed: int

    @property
    def n_classes(self) -> int:
        return len(self.label_map)

    @property
    def classes(self) -> tuple[int, ...]:
        """The dataset's classes the task draws from, sorted: the dataset files it reads."""
        return tuple(sorted(c for sources in self.label_map for c in sources))

    def draws_per_class(self) -> dict[int, int]:
        """How many examples each original class contributes."""
        draws = {}
        for sources in self.label_map:
            base, extra = divmod(self.samples_per_class, len(sources))
            for i, c in enumerate(sources):
                draws[c] = base + (1 if i < extra else 0)
        return draws

    def split_counts(self, pool_sizes: np.ndarray) -> dict[int, tuple[int, int, int]]:
        """How many examples each original class contributes to train, val and test.

        Class ``c``'s draws are divided in the proportions ``split.train :
        split.val : split.test`` of the dataset's split, or, for a dataset
        whose own test file is the test pool, in the proportions of the
        class's pool sizes ``pool_sizes[c]``; rounding by largest remainder
        (ties go to the earlier split in ``train, val, test``).

        Parameters
        ----------
        pool_sizes
            (n_dataset_classes, 3): images of each class in the train, val and
            test pools (:func:`taskdist.data.pools.pool_sizes`, or counted from a
            dataset's ``pool`` array).

        Returns
        -------
        dict
            Original class -> (train, val, test) counts summing to its draws.
        """
        sizes = np.asarray(pool_sizes)
        if sizes.ndim != 2 or sizes.shape[1] != len(POOLS):
            raise ValueError(f"pool_sizes must be (n_classes, {len(POOLS)}), got shape {sizes.shape}")
        counts = {}
        for c, n in self.draws_per_class().items():
            if self.split.own_test_part:
                weights = tuple(int(v) for v in sizes[c])
            else:
                weights = (self.split.train, self.split.val, self.split.test)
            counts[c] = _largest_remainder(n, weights)
        return counts


def _largest_remainder(n: int, weights: tuple[float, ...]) -> tuple[int, ...]:
    """``n`` divided in proportion to ``weights``: floors, then one more for the largest remainders."""
    total = sum(weights)
    if n == 0:
        return (0,) * len(weights)
    if total <= 0:
        raise ValueError(f"cannot divide {n} in proportion to {weights}: weights must have a positive sum")
    shares = [round(n * w / total, 9) for w in weights]  # rounding absorbs float error, e.g. 0.6 * 5 = 2.9999...
    counts = [math.floor(share) for share in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return tuple(counts)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the tasks draw from.

    Parameters
    ----------
    name
        Registry name (:data:`taskdist.data.registry.DATASETS`), or the config's name of an image folder.
    root, download
        Where torchvision reads the files, and whether it may fetch them.
    split
        How its images are divided into train / val / test pools
        (:func:`taskdist.data.pools.default_split` of the dataset unless configured).
    folder
        Root of an image folder (:func:`taskdist.data.sources.scan_folder`); None for a registered dataset.
    class_names
        An image folder's class folders as listed when the config was read
        (class ``c`` is ``class_names[c]``), so that a change of them is a
        change of the dataset's params; None for a registered dataset.
    """

    name: str
    root: str | None
    download: bool
    split: SplitSpec
    folder: str | None = None
    class_names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TrainSpec:
    """Training a network from scratch on its task's train split (``train:``): Adam until the val loss has not
    improved for ``patience`` epochs (at most ``max_epochs``; the best epoch kept), or, with ``patience`` None,
    exactly ``max_epochs`` epochs and the last weights kept (the papers' fixed schedules)."""

    max_epochs: int
    patience: int | None
    batch_size: int
    lr: float
    weight_decay: float


@dataclass(frozen=True)
class HeadSpec:
    epochs: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class LinearSpec:
    """A new linear head on frozen features, fitted to convergence (Newton's method, L2 weight ``l2``)."""

    l2: float
    max_iter: int
    tol: float


@dataclass(frozen=True)
class FisherSpec:
    estimator: str
    granularity: str
    mc_samples: int
    samples: int
    batch_size: int
    head: LinearSpec  # the refitted head, converged (taskdist.nets.linear.refit_head)


@dataclass(frozen=True)
class FinetuneSpec:
    """Adam on all weights until the held-out loss stops improving for ``patience`` epochs (at most
    ``max_epochs``; the best epoch kept), or, with ``patience`` None, exactly ``max_epochs`` epochs and the last
    weights kept."""

    max_epochs: int
    patience: int | None
    batch_size: int
    lr: float


@dataclass(frozen=True)
class BudgetSpec:
    """The labelled budget of a target (:mod:`taskdist.data.budget`): per replicate, ``samples_per_class``
    examples of each label from its train split and ``holdout_per_class`` from its val split, drawn with a seed
    derived from ``seed`` (the target's, shared by every source: paired replicates). ``method_samples``: how many
    of replicate 0's examples the distances and scores read (``distances.target_samples``, the same number for
    every target; None: all of them)."""

    samples_per_class: int
    holdout_per_class: int
    seed: int
    method_samples: int | None = None


@dataclass(frozen=True)
class TransferSpec:
    """Ground truth of transfer (:mod:`taskdist.evaluation.transfer`): a small labelled budget of the target, per
    replicate."""

    samples_per_class: int
    holdout_per_class: int
    replicates: int
    settings: tuple[str, ...]
    finetune: FinetuneSpec
    linear: LinearSpec

    def labelled_budget(self, seed: int) -> BudgetSpec:
        """The labelled budget of a target whose replicates have the seed ``seed``."""
        return BudgetSpec(self.samples_per_class, self.holdout_per_class, seed)


@dataclass(frozen=True)
class ProbeSpec:
    """The Task2Vec probe network (:func:`taskdist.methods.probes.probe_from_spec`): ``kind: trained``, a task network
    the workflow trains on :attr:`Task2VecSpec.probe_tasks`, or ``kind: torchvision``, the torchvision
    architecture ``arch``, randomly initialised or with the state dict in the file ``weights``."""

    kind: str
    arch: str | None
    weights: str | None


@dataclass(frozen=True)
class Task2VecSpec:
    """Task2Vec (``task2vec:``); the config's ``probe.tasks`` are ``probe_tasks`` (they decide the trained
    probe's checkpoint, which its embeddings read as a file)."""

    probe: ProbeSpec
    probe_tasks: tuple[str, ...]
    estimator: str
    alpha: float
    beta: float
    samples: int
    head: HeadSpec


@dataclass(frozen=True)
class MantelSpec:
    """Mantel tests against the ground truth: the correlation, its permutation test and its bootstrap.

    ``resamples`` draws of the tasks give every Mantel correlation a ``level``
    interval, the paired comparison of the two best methods and the selection
    means' intervals (0: no intervals).
    """

    method: str
    permutations: int
    resamples: int = 2000
    level: float = 0.95


@dataclass(frozen=True)
class NetSpec:
    """Shape of a network around its cell.

    Parameters
    ----------
    width
        Channels of the stem and of the first cell; doubled by each reduction.
    cells
        Number of stacked cells (a reduction sits between consecutive cells).
    stem_stride
        Stride of the stem convolution: 2 (default) halves the image before the
        first cell, which makes a 28x28 search affordable on a CPU; 1 keeps it.
    """

    width: int
    cells: int
    stem_stride: int

    def cell_widths(self) -> list[int]:
        return [self.width * 2**k for k in range(self.cells)]


@dataclass(frozen=True)
class FuseSpec:
    """Budget and optimisation settings of a search; the schema's defaults fit 2 CPU cores.

    Parameters
    ----------
    stages
        FUSE stages (one winner kept per stage).
    rounds
        Alternations of weight training and alpha training per stage.
    epochs
        Epochs of each half of a round (weights on train, alpha on val).
    candidates
        Fresh cells sampled per stage (the incumbent comes on top).
    nodes
        Nodes per sampled cell, including the input node.
    net
        Shape of every network around its cell.
    batch_size, lr, weight_decay
        Adam on the candidates' weights (search) and the winner's (final training).
    alpha_lr
        Adam on alpha.
    final_epochs
        Epochs of the winner's training from scratch.
    """

    stages: int
    rounds: int
    epochs: int
    candidates: int
    nodes: int
    net: NetSpec
    batch_size: int
    lr: float
    alpha_lr: float
    weight_decay: float
    final_epochs: int

    @property
    def candidates_trained(self) -> int:
        """Candidate networks FUSE trains: ``stages * (candidates + 1)`` (the random-search budget)."""
        return self.stages * (self.candidates + 1)

    @property
    def epochs_per_candidate(self) -> int:
        """Training epochs each candidate's weights get within its stage."""
        return self.rounds * self.epochs


SEARCHES = {"task_aware": "fuse", "full": "fuse", "random": "random", "farthest": "fuse", "random_bases": "fuse"}
"""The searches a NAS target can get, each with its algorithm: FUSE in the task-aware space, FUSE and
random search in the full space (:func:`taskdist.nas.taskaware.run_search`), and the ablations
(:data:`ABLATIONS`)."""

TARGET_SEARCHES = ("task_aware", "full", "random")
"""The searches every NAS target gets."""

ABLATIONS = ("farthest", "random_bases")
"""Searches that isolate the distance (``nas.ablations``): FUSE in the space spanned by the cells of the ``k``
*farthest* bases, or of ``k`` bases drawn at random (per seed), instead of the ``k`` nearest."""

SPACE_FROM_BASES = ("task_aware", "farthest", "random_bases")
"""Searches whose space is spanned by base tasks' best cells."""


@dataclass(frozen=True)
class NasSpec:
    """Task-aware architecture search (``nas:``): FUSE per base task, three searches per target (and ablations).

    ``k`` nearest base tasks by distance ``method`` (one of the computed
    methods) span each target's task-aware space; ``search`` is the budget of
    every search. No targets: no search runs. Every search of a target runs
    ``seeds`` times (independent seeds, one job each), and each winner is
    trained from scratch ``final_seeds`` times before its test accuracy is
    reported (mean and spread). ``ablations`` (of :data:`ABLATIONS`) add
    searches in spaces of other bases; ``compare_at`` is the fraction of the
    full search's budget at which the searches are compared, paired over seeds;
    ``level`` the confidence level of the intervals.
    """

    base_tasks: tuple[str, ...]
    targets: tuple[str, ...]
    k: int
    method: str
    search: FuseSpec
    seeds: int = 1
    final_seeds: int = 1
    ablations: tuple[str, ...] = ()
    compare_at: float = 0.5
    level: float = 0.95

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    @property
    def searches(self) -> tuple[str, ...]:
        """The searches of every target: :data:`TARGET_SEARCHES`, then the configured ablations."""
        return TARGET_SEARCHES + tuple(self.ablations)


@dataclass(frozen=True)
class TanasSpec:
    """The TA-NAS complexity distance (``tanas:``); see :func:`taskdist.methods.tanas.complexity_distance`."""

    samples: int
    hidden: tuple[int, ...]
    prune_step: float
    tolerance: float
    epochs: int
    finetune_epochs: int
    lr: float
    batch_size: int
    holdout: float


@dataclass(frozen=True)
class CoupledSpec:
    """The path-length distances coupled, uncoupled and finetune_length (``coupled:``); see
    :mod:`taskdist.methods.coupled`.

    ``samples`` per task (at most), in blocks of ``block``; ``steps`` values of
    τ after 0, ``steps_per_tau`` Adam steps (``lr``) of ``batch_size`` pairs
    each; ``outer`` iterations of the coupling; ``entropy`` the first
    coupling's entropic regularisation, relative to a block's mean cost, and
    ``proximal`` the proximal step's, relative to the spread of a block's
    lengths; ``head`` ``union`` (one output per class identity) or
    ``disjoint`` (a new output per target label).
    """

    samples: int
    block: int
    steps: int
    steps_per_tau: int
    batch_size: int
    lr: float
    outer: int
    entropy: float
    proximal: float
    head: str
    optimizer: str


@dataclass(frozen=True)
class BoundSpec:
    """The transferability bound (``transfer_bound:``); see :mod:`taskdist.methods.bound`.

    ``setting`` LearnedAll / LearnedA / FixedAll; at most ``samples`` source
    examples; ``epochs`` Adam steps (``lr`` for A, Ā, b and B, ``lr_prior``
    for D) on the bound plus ``penalty`` times the inverse penalty, the
    exact OT re-solved every ``ot_every`` steps; ``linear_l2`` for the new
    linear head it is compared with; ``head`` ``network`` (certified) or
    ``refit`` (the authors', gradient-penalised at ``refit_tau``).
    """

    setting: str
    samples: int
    epochs: int
    lr: float
    lr_prior: float
    penalty: float
    linear_l2: float
    ot_every: int
    head: str
    refit_tau: float


@dataclass(frozen=True)
class ConsistencySpec:
    """More task networks per task (``consistency:``): the noise of training a network, in the ground truth and
    in FTD.

    ``seeds`` networks per task (the workflow's own included) differ in
    initialisation and batch order; replicate ``r`` of the ground truth
    transfers the network of seed ``r mod seeds``, and the FTD matrices of the
    seeds are compared (the FTD paper's consistency). ``network``, when set,
    adds one network per task of another shape, for the FTD comparison only.
    Each extra network is a *variant* ``seed1``, ``seed2``, ..., ``shape``,
    trained on the same examples.
    """

    seeds: int
    network: ArchSpec | BackboneSpec | None = None

    def variants(self) -> tuple[str, ...]:
        return tuple(f"seed{k}" for k in range(1, self.seeds)) + (("shape",) if self.network else ())


@dataclass(frozen=True)
class Experiment:
    seed: int
    device: str
    image: ImageSpec
    datasets: dict[str, DatasetSpec]
    tasks: dict[str, TaskSpec]
    network: ArchSpec | BackboneSpec
    train: TrainSpec
    fisher: FisherSpec
    methods: tuple[str, ...]
    target_examples: str
    target_samples: int | None
    transfer: TransferSpec
    task2vec: Task2VecSpec
    mantel: MantelSpec
    nas: NasSpec
    tanas: TanasSpec
    coupled: CoupledSpec
    transfer_bound: BoundSpec
    consistency: ConsistencySpec


def resample(spec: TaskSpec) -> TaskSpec:
    """An independent resample of a task: an instrument for measuring a distance's noise floor.

    Same dataset, classes, labels and budget, drawn again from the same pools
    with the seed ``stable_seed(spec.seed, "resample")``; its id is
    ``spec.id + RESAMPLE_SUFFIX``.
    """
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"spec must be a TaskSpec, got {type(spec).__name__}")
    return dataclasses.replace(spec, id=f"{spec.id}{RESAMPLE_SUFFIX}", seed=stable_seed(spec.seed, "resample"))


def to_params(spec) -> dict:
    """A spec as plain builtins: what Snakemake can compare to decide whether a job is stale."""
    return asdict(spec)


def from_params(cls: type, value):
    """Inverse of :func:`to_params`: rebuild a (nested) frozen spec from plain builtins."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return cls(**{f.name: from_params(hints[f.name], value[f.name]) for f in dataclasses.fields(cls)})
    origin = typing.get_origin(cls)
    if origin in (typing.Union, types.UnionType):  # ``X | None``: rebuild an X unless the value is None
        args = [arg for arg in typing.get_args(cls) if arg is not type(None)]
        if value is None:
            return None
        if len(args) == 1:
            return from_params(args[0], value)
        if not any(dataclasses.is_dataclass(a) for a in args):
            return value
        # ``X | Y`` of specs: the one whose fields are the value's keys (ArchSpec or BackboneSpec)
        fits = [
            a
            for a in args
            if dataclasses.is_dataclass(a)
            and isinstance(value, dict)
            and {f.name for f in dataclasses.fields(a)} == set(value)
        ]
        if len(fits) != 1:
            names = [getattr(a, "__name__", str(a)) for a in args]
            keys = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise ValueError(f"cannot tell which of {names} the params {keys} describe")
        return from_params(fits[0], value)
    if origin is tuple:
        args = typing.get_args(cls)
        inner = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        return tuple(from_params(inner, v) if inner else v for v in value)
    return value
