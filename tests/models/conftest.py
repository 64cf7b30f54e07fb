"""Fixtures of the model tests."""

from __future__ import annotations

import pytest
from tiny_lalm import tiny_kwargs


@pytest.fixture(scope="module")
def tiny_module():
    import torch

    from lalm_framework.models.lalm_module import LalmModule

    torch.manual_seed(0)
    return LalmModule(**tiny_kwargs())
