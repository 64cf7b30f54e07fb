"""Past runs read back from their records (`run.json`): what `lalm-runs` lists, compares and plots.

- `records`: find run dirs, one `Run` per `run.json` (task, time, status, best metric, epochs).
- `select`: filters (`--status`, `--where key=value`), sorting, the overrides that differ.
- `compare`: config differences and metrics of runs side by side.
- `curves`: per-epoch curves as a PNG (`curves.png` of each run, overlays of several).

Torch-free: `lalm-runs` starts as fast as `lalm-train --help`.
"""
