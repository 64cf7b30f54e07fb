"""Config schemas and ConfigStore registration."""

from lalm_framework.config.store import register, register_configs

__all__ = ["register", "register_configs"]
