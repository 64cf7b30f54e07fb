"""`hydra/launcher=lalm_slurm` (and the slurm_* presets): hydra-submitit with honest job states."""
