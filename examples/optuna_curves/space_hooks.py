"""A conditional search space for `hydra.sweeper.custom_search_space=space_hooks.region_then_x`."""

from typing import Any


def region_then_x(trial: Any, cfg: Any) -> dict[str, Any] | None:
    """Pick a region first, then x inside it; also train longer in the promising region."""
    region = trial.suggest_categorical("+region", ["low", "high"])
    low, high = (0.0, 0.5) if region == "low" else (0.5, 1.0)
    trial.suggest_float("x", low, high)
    return {"epochs": 6 if region == "low" else 3}
