"""``python -m app.cli``: the ``shegong`` command."""

from app.cli import main

main()
