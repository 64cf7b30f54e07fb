"""Every job of a SLURM sweep is composed and checked against the request before `sbatch`.

Cheaply: one full composition per config shape (`job_configs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig

from lalm_framework.errors import UserError, describe
from lalm_framework.launching.job_configs import JobConfigs
from lalm_framework.launching.slurm.resources import check_slurm_resources


class JobChecker:
    """Checks jobs of one sweep against the one SLURM request they are submitted with."""

    def __init__(self, config: DictConfig, loader: Any, request: Mapping[str, Any]) -> None:
        self.configs = JobConfigs(config, loader)
        self.request = dict(request)

    def check(self, idx: int, overrides: Sequence[str]) -> None:
        """Raise UserError naming job `idx` when it does not compose or the request does not fit it."""
        label = f"Job #{idx} ({' '.join(overrides) or 'no overrides'})"
        try:
            job_cfg = self.configs.compose(overrides)
        except Exception as e:
            raise UserError(f"{label} is invalid; nothing was submitted.\n{describe(e) or e}") from e
        check_slurm_resources(job_cfg, self.request, job_label=label)
