"""The errors ``models`` raises for the user: each message is meant to be shown as it is."""


class ConfigError(ValueError):
    """A model or training setting that cannot work; the message is meant for the user."""


class DivergedError(ArithmeticError):
    """A loss or gradient became NaN/Inf; the step that caused it was not applied."""


class CheckpointError(ValueError):
    """A file that cannot be loaded or saved as a checkpoint; the message is meant for the user."""
