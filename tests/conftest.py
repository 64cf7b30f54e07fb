"""Suite-wide settings: one torch thread (2-vCPU machines), no model hub."""

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
