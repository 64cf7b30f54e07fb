"""Options of `hydra/launcher=lalm_slurm`: hydra-submitit-launcher's `submitit_slurm` options plus ours.

The presets `hydra/launcher=slurm_cpu|slurm_gpu|slurm_debug` (YAML in lalm_framework/conf) build
on this node; docs/slurm.md explains every field. The defaults of our own options live here only.
"""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf


@dataclass
class LalmSlurmQueueConf(SlurmQueueConf):  # type: ignore[misc]  # hydra-submitit ships no types: its base is Any
    _target_: str = "hydra_plugins.lalm_submitit.lalm_submitit_launcher.LalmSlurmLauncher"

    # seconds between queries of SLURM for the submitted jobs (states, pending reasons)
    poll_interval_s: float = 2.0

    # print the summary table (job, overrides, SLURM state, metric, log) after the sweep
    summary: bool = True

    # Ctrl-C / SIGTERM to the sweep (or any error that ends it) scancels the jobs it submitted
    cancel_on_exit: bool = True


ConfigStore.instance().store(
    group="hydra/launcher", name="lalm_slurm", node=LalmSlurmQueueConf, provider="lalm-framework"
)
