"""Fixtures shared by several test files."""
import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # scripts/test.sh runs one worker process per core: one thread each, or the workers fight for the cores
    torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for the cores); restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
