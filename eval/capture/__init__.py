"""The quick-capture evaluation set (``notes.jsonl``, fictional dictated notes with gold records,
split into dev and test; see README.md) and its scorer. ``python -m eval.capture --split dev``."""
