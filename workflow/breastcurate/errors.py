"""The one exception type for expected failures: the CLI prints its message and exits 1 (bugs keep their traceback)."""


class BreastcurateError(Exception):
    """An expected failure a user can act on (bad config, missing input, refused credentials, failed check)."""
