"""Vigie host: plugin system, lifecycle, store, outbox and local API. No domain knowledge here."""

from importlib import metadata

try:
    __version__ = metadata.version("vigie")
except metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+src"
