"""`hydra/launcher=lalm_pool`: every job in a fresh process, the next one as soon as one ends.

- `launcher`: the Hydra side (`hydra_plugins/lalm_pool` delegates here): composes and checks
  every job, runs them in the pool, prints the status line and summary, returns JobReturns.
- `settings`: `hydra.launcher.*` typed and checked before any job starts.
- `process_pool`: the pool itself: starts, follows, retries and stops job processes.
- `worker`: the job processes (a template process that forks one child per job).
- `gpu_leases`: which GPUs each running job may use; `threads`: CPU thread caps per job;
  `signals`: signalling job process groups (stdlib only: the worker imports it first).
"""
