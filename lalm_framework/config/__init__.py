"""Config schemas, ConfigStore registration and the `lalm.*` resolvers."""

from lalm_framework.config.resolvers import register_resolvers
from lalm_framework.config.store import register, register_configs

register_resolvers()

__all__ = ["register", "register_configs"]
