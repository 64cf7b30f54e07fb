"""`hydra/launcher=lalm_pool`: local parallel jobs in fresh processes with GPU leases."""
