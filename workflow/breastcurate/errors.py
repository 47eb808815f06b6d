"""The one exception type for expected failures: the CLI prints its message and exits 1 (bugs keep their traceback)."""


class BreastcurateError(Exception):
    """An expected failure a user can act on (bad config, missing input, refused credentials, failed check)."""


class NativeTableError(BreastcurateError):
    """A native table of a mirror cannot be read as its adapter expects (a missing column, sheet or file)."""
