"""Optuna hyperparameter search for lalm-train: the `hydra/sweeper=lalm_optuna` sweeper's work.

    lalm-train -m hparams_search=lalm_lr hydra/launcher=lalm_pool        # presets
    lalm-train -m hydra/sweeper=lalm_optuna lr='tag(log, interval(1e-5, 1e-2))' \
        model.lora.r='choice(4, 8, 16)' hydra.sweeper.n_trials=30 hydra/sweeper/pruner=hyperband

- Search space: `hydra.sweeper.params` and the command line, in the Hydra Optuna sweeper's grammar
  (space.py); conditional spaces with `hydra.sweeper.custom_search_space=pkg.mod.fn` (fn(trial, cfg)).
- Samplers `hydra/sweeper/sampler=tpe|random|cmaes|gp|nsgaii|grid`; pruners
  `hydra/sweeper/pruner=median|successive_halving|hyperband|none`; `hydra.sweeper.direction`
  (null: from `mode`), a list for several objectives.
- Storage: SQLite `optuna.db` in the sweep dir by default; `journal` for shared filesystems (the
  default under the SLURM launchers); any database URL (storage.py). Open it with
  `optuna-dashboard sqlite:///<sweep dir>/optuna.db` (`pip install optuna-dashboard`).
- Resume: rerun the same command. `n_trials` is the total; finished trials are kept; trials a
  killed sweep left running are marked failed and retried; job dir number = trial number, and
  existing job dirs are never reused. One sweeper per study at a time (a lock file guards it).
  A time-stamped `hydra.sweep.dir` becomes `<prefix>/optuna/<study name>` so reruns find the study.
- Pruning runs in the jobs: they get `trial.storage/study_name/trial_number` overrides, a Lightning
  callback reports `trial.pruning_monitor` (default `monitor`) each validation (pruning.py; other
  task functions use reporter.TrialReporter). Pruned trials end PRUNED, not FAIL.
- With a streaming launcher (lalm_pool) trials run asynchronously, up to `n_jobs` at once; other
  launchers get batches of `n_jobs` (`hydra.sweeper.asynchronous=false` forces batches).
- Failed trials (exceptions, NaN/inf/None objectives) are FAIL with `fail_reason`; the sweep goes
  on until more than `max_failure_rate` of its trials failed.
- Results in the sweep dir: optimization_results.yaml (best params/value), trials.csv, plots/*.png|html.
"""
