"""``python -m eval.bench``: runs :func:`eval.bench.cli.main`."""

from eval.bench.cli import main

if __name__ == "__main__":
    main()
