"""The tiny Hydra app of the launcher tests, run as a real `python app.py -m` process."""

from __future__ import annotations

import textwrap

# A job records what it saw (pid, devices, threads, start/end) in its own dir, then sleeps,
# spawns a grandchild, fails or succeeds as its overrides say. Errors are reported the way
# `lalm-train` reports them (short messages).
APP = textwrap.dedent("""
    import json, os, subprocess, sys, time
    from pathlib import Path
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from lalm_framework.cli.short_errors import install

    install()  # errors read as they do in lalm-train

    LEAK = []  # a module global: a reused process would carry it from job to job

    @hydra.main(version_base=None, config_path=None, config_name=None)
    def main(cfg):
        job_dir = Path(HydraConfig.get().runtime.output_dir)
        LEAK.append(cfg.get("x"))
        torch = sys.modules.get("torch")  # imported only if the launcher preloaded it
        seen = {"x": cfg.get("x"), "pid": os.getpid(), "leak": list(LEAK),
                "torch_threads": torch.get_num_threads() if torch else None,
                "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "omp": os.environ.get("OMP_NUM_THREADS"), "start": time.time()}
        if cfg.get("grandchild"):
            seen["grandchild"] = subprocess.Popen(["sleep", "300"]).pid
        (job_dir / "started.json").write_text(json.dumps(seen))
        print("job", cfg.get("x"), "running", flush=True)
        time.sleep(0 if cfg.get("x") in cfg.get("quick", []) else float(cfg.get("s", 0)))
        marker = job_dir / "tried"
        if cfg.get("x") in cfg.get("fail", []) or (cfg.get("x") in cfg.get("flaky", []) and not marker.exists()):
            marker.touch()
            raise ValueError(f"job x={cfg.get('x')} fails on purpose")
        seen["end"] = time.time()
        (job_dir / "seen.json").write_text(json.dumps(seen))
        return cfg.get("x") * 10

    if __name__ == "__main__":
        main()
""")
