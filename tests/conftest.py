"""Fixtures shared by the unit-test modules."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: extra threads only add contention when other jobs share the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
