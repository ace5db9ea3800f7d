"""Errors raised on bad input; each message names the offending file, field or value."""


class SyndiagError(Exception):
    """Base class of every error syndiag raises on purpose."""


class DataError(SyndiagError):
    """A recording, file or dataset that cannot be used as it is."""


class ConfigError(SyndiagError):
    """A configuration file or value that is invalid."""
