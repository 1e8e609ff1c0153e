"""taskdist.methods.pot: POT's solvers without ``import ot``'s imports, the same values as ``ot``'s."""

import subprocess
import sys

CODE = """
import sys
import numpy as np
import torch
from taskdist.methods import pot
rng = np.random.default_rng(0)
cost = rng.random((5, 5))
w = np.full(5, 0.2)
plan = pot.sinkhorn(w, w, cost, 0.1, method="sinkhorn_log", stopThr=1e-10)
value = pot.emd2(torch.tensor(w), torch.tensor(w), torch.tensor(cost))
light = sorted(m for m in ("sklearn", "scipy.stats", "ot") if m in sys.modules)
import ot
assert np.array_equal(plan, ot.sinkhorn(w, w, cost, 0.1, method="sinkhorn_log", stopThr=1e-10))
assert float(value) == float(ot.emd2(torch.tensor(w), torch.tensor(w), torch.tensor(cost)))
assert ot.sinkhorn is pot._submodule("ot.bregman._sinkhorn").sinkhorn
print(light)
"""


def test_the_solvers_load_without_pots_init_and_give_its_values():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout  # neither scikit-learn nor scipy.stats nor POT's __init__
