"""The core's version and the plugin API version it offers (see docs/compatibility.md)."""

from importlib import metadata

try:
    __version__ = metadata.version("nanobot-core")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

PLUGIN_API_VERSION = "1.0"
"""The plugin contract's version: hookspecs, protocols, message types, ``nanobot_core.testing``."""
