"""User-facing errors: the CLI prints their message alone, without a traceback."""


class UserError(Exception):
    """A mistake in the user's config, data or command. The message names the problem and the fix."""
