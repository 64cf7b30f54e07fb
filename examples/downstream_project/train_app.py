"""(b) The user's own Hydra app: our `train` config + their options, our runner."""

import hydra
import my_project.configs  # noqa: F401  registers dataset=my_digits
from omegaconf import DictConfig

import lalm_framework


@hydra.main(version_base="1.3", config_path="conf", config_name="my_train")
def main(cfg: DictConfig) -> float:
    return lalm_framework.run(cfg)


if __name__ == "__main__":
    lalm_framework.short_errors()  # config mistakes print as short messages, as in lalm-train
    main()
