"""The 问数 evaluation set (``questions.jsonl``, and a second author's ``questions_set2.jsonl``: plain
questions about the visit data, each with a hand-written reading or "decline", split into dev and test;
see README.md), its reference answers computed from the raw rows (``reference.py``) and the scorer of
the parser (``score.py``). ``python -m eval.askdata --split dev [--set 1|2|all]``."""
