"""A toy objective with learning curves for the `lalm_optuna` sweeper (no Lightning, runs in ms).

    python examples/optuna_curves/app.py -m hydra.sweeper.n_trials=20 hydra/sweeper/pruner=median

The objective and its reporting to the trial are in curves.py.
"""

import hydra
from curves import train
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="curves")
def main(cfg: DictConfig) -> float:
    return train(cfg)


if __name__ == "__main__":
    main()
