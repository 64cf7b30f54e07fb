"""Suite-wide settings: one torch thread (2-vCPU machines), no model hub."""

import importlib.util
import os
import tempfile

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# audio-check records and manifest catalogs of this run only (not the user's ~/.cache)
os.environ["LALM_CACHE_DIR"] = tempfile.mkdtemp(prefix="lalm-test-cache-")


@pytest.fixture(autouse=True)
def _keep_hydra_version_base():
    """Hydra apps and `initialize_*` set a process-wide version_base: leave it as found.

    Otherwise one in-process test decides the defaults (e.g. `hydra.job.chdir`) of the next.
    """
    from hydra.version import VersionBase

    before = VersionBase.instance().getbase()
    yield
    VersionBase.instance().version_base = before  # may be "unspecified", which setbase refuses


def pytest_ignore_collect(collection_path, config):
    """Without torch (lalm-framework-core on the other Pythons), collect only the modules marked torchfree.

    The others import torch or Lightning at module level; `-m torchfree` alone would fail collecting them.
    """
    if _TORCH_INSTALLED or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    return "mark.torchfree" not in collection_path.read_text(encoding="utf-8") or None


_TORCH_INSTALLED = importlib.util.find_spec("torch") is not None
