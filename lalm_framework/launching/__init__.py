"""Launchers: the local process pool (`pool/`) and SLURM (`slurm/`), and what they share.

- `protocol`: what sweepers and launchers expect of each other (streaming jobs, resumes, the
  plugin objects' attributes), as Protocols: this package never imports `hydra_plugins`.
- `job_configs`: each job's composed config, one full composition per config shape.
- `report`: the status line, the summary table and one-line job errors.
- `ddp`: multi-process (DDP) training inside a multirun job, under any launcher.
"""
