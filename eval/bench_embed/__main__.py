"""``python -m eval.bench_embed``: runs :func:`eval.bench_embed.cli.main`."""

import sys

from eval.bench_embed.cli import main

if __name__ == "__main__":
    sys.exit(main())
