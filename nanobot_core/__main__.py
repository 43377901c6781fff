"""``python -m nanobot_core``: the same as the ``nanobot`` command."""

from .cli import main

main()
