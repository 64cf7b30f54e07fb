"""`hydra/launcher=lalm_slurm` and the `slurm_*` presets: SLURM through hydra-submitit.

- `launcher`: what `hydra_plugins/lalm_submitit` delegates to, in the controller (`launch`,
  `launch_stream`) and inside each job (`raise_if_failed`, requeue hooks). Light at import.
- `session`: one launcher call in the controller: submit, follow, cancel, summarise.
- `jobs`: the jobs seen from the controller (submission, ledger, states, results).
- `checks`: every job composed and checked against the request before `sbatch`;
  `resources`: those checks (light: `--cfg` and dry runs use them).
- `requeue`: preemption and timeout inside a job: save `last.ckpt`, requeue, resume;
  `running_fit`: the fit that a warning signal saves (light: the launcher side reads it).
"""
