"""Typed errors. Each carries the exit code the command line turns it into.

Exit codes (documented in the README):
  0  success
  1  the operation failed (not found at that commit, network, missing object, damage found)
  2  bad usage or bad input (a spec, a config, an unknown source, an option-like ref)
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class KipoiError(Exception):
    """Base of every error the project raises on purpose."""

    exit_code = EXIT_FAILED


class UsageError(KipoiError):
    """Input that is malformed or names something that is not configured."""

    exit_code = EXIT_USAGE


class SpecError(UsageError):
    """A model spec that cannot be parsed."""


class ConfigError(UsageError):
    """A config file that cannot be read or has a bad entry."""


class UnknownSourceError(UsageError):
    """A spec or command names a source the config does not have."""


class UnsafePathError(UsageError):
    """A path or symlink that would escape its source or the store."""


class NotFoundError(KipoiError):
    """A model, ref or object that does not exist where it was looked for."""


class NetworkError(KipoiError):
    """A remote could not be reached or answered with an error."""


class IntegrityError(KipoiError):
    """Bytes that do not match their expected digest or size."""


class OfflineError(KipoiError):
    """Something needs the network while offline mode forbids it."""


class ModelError(KipoiError):
    """A model kipoi could not load as its source holds it: an invalid or empty model.yaml, a
    default dataloader that is not there, a models.tsv that does not parse."""
