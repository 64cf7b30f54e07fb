"""A Lightning callback for benchmarks: the process's CPU time and peak RSS when the first
training batch is about to run (data loaded, nothing trained), written as JSON to the file
named by $LALM_FIRST_STEP_OUT. Used by bench_startup_scale.py through
`+callbacks.first_step._target_=first_step_probe.FirstStepProbe` (benchmarks/ on PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import resource
from typing import Any

import pytorch_lightning as pl


class FirstStepProbe(pl.Callback):
    def __init__(self) -> None:
        self.done = False

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        if self.done:
            return
        self.done = True
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        out = {"cpu_s": cpu, "rss_gb": max(me.ru_maxrss, kids.ru_maxrss) / 1024**2}
        with open(os.environ["LALM_FIRST_STEP_OUT"], "w") as f:
            json.dump(out, f)
