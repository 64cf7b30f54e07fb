"""`launch_stream`: a sweeper hands out jobs one at a time; each starts when a worker frees."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.test_utils.test_utils import TSweepRunner

from lalm_framework.launching.protocol import JobSource, StreamingLauncher

N_JOBS = 4


class RecordingSource:
    """Hands out jobs 0 and 1, then nothing until a result arrives although a slot is free."""

    def __init__(self) -> None:
        self.handed: list[int] = []
        self.done: list[tuple] = []
        self.none_while_running = 0

    def next_job(self) -> Sequence[str] | None:
        n = len(self.handed)
        if n == N_JOBS:
            return None
        if n >= 2 and not self.done:
            self.none_while_running += 1
            return None
        self.handed.append(n)
        return [f"+n={n}"]

    def job_done(self, job_idx: int, overrides: Sequence[str], ret: JobReturn) -> None:
        self.done.append((job_idx, list(overrides), ret.status, ret.return_value, time.monotonic()))


class StreamSweeper(Sweeper):
    """A minimal sweeper that drives the launcher through `launch_stream`."""

    last: RecordingSource | None = None

    def __init__(self, **_: Any) -> None:
        self.launcher: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        assert isinstance(self.launcher, StreamingLauncher)
        source = StreamSweeper.last = RecordingSource()
        assert isinstance(source, JobSource)
        ran = self.launcher.launch_stream(source, initial_job_idx=0, max_in_flight=3)
        return [ran]


def test_stream_starts_jobs_as_workers_free(
    hydra_sweep_runner: TSweepRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hydra accepts plugin classes only from `hydra_plugins.*`; this test sweeper lives here
    monkeypatch.setattr(Plugins, "is_in_toplevel_plugins_module", staticmethod(lambda name: True))
    monkeypatch.setitem(Plugins.instance().class_name_to_class, f"{__name__}.StreamSweeper", StreamSweeper)

    def task(cfg: Any) -> int:
        # job 0 may only end once job 3 has started: a launcher that waited for a batch (or for
        # job 0) before starting jobs 2 and 3 makes job 0 fail here
        (tmp_path / f"started-{cfg.n}").touch()
        deadline = time.monotonic() + 60
        while cfg.n == 0 and not (tmp_path / "started-3").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("job 3 never started while job 0 ran")
            time.sleep(0.05)
        return cfg.n * 10

    sweep = hydra_sweep_runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path="configs",
        config_name="compose.yaml",
        temp_dir=tmp_path,
        overrides=[
            "hydra/launcher=lalm_pool",
            "hydra.launcher.gpus=null",
            "hydra.launcher.n_jobs=4",
            "hydra.launcher.preload=[]",
            f"hydra.sweeper._target_={__name__}.StreamSweeper",
        ],
    )
    with sweep:
        assert sweep.returns == [4]
        assert all(Path(tmp_path, str(i), ".hydra", "config.yaml").is_file() for i in range(4))
    source = StreamSweeper.last
    assert source is not None
    assert sorted((i, v) for i, _, s, v, _ in source.done) == [(0, 0), (1, 10), (2, 20), (3, 30)]
    assert all(s == JobStatus.COMPLETED for _, _, s, _, _ in source.done)
    assert source.none_while_running >= 1  # the source said "nothing now" and was asked again later
