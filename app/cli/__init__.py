"""The ``shegong`` command: ingest | remove | chunks | docs | backup | restore | doctor | serve | user | db | eval.

Every option can also come from a ``SHEGONG_*`` environment variable (see app/core/settings.py).
Domain errors become a one-line Chinese message and exit code 1.
"""

from __future__ import annotations

from app.cli import db, kb, regions, serve, users
from app.cli.base import main


def _register_eval() -> None:
    from eval.cli import eval_cmd

    main.add_command(eval_cmd)


_register_eval()

__all__ = ["db", "kb", "main", "regions", "serve", "users"]
