"""Hydra sweeper `hydra/sweeper=lalm_optuna`: Optuna >= 4 search, async trials, pruning, resume."""
