"""Train the answer selector (``app/rag/models/selector.json``) on this machine, reproducibly.

Pool: the raw question-answer pairs of cmrc2018 and drcd under ``../shared/external/*/raw`` (both
CC BY-SA), leaving out every document a question of the four ``*.eval.jsonl`` files is on, plus
the development half of the starter set (cases tagged ``dev``). Each question is asked through the
product's own retrieval twice: as it is (the sentences holding the reference answer are the
positives) and with its gold documents withheld (every sentence is a negative: the near-topic
passages that remain are what a refusal must recognise). The pool is split by document into
train and development parts; the model is fitted on train, and its calibration, its refusal
threshold and the choice between model kinds are made on development. cail2019_rc and ncp_policy
(no licence stated) are collected only with ``--experiment`` and reported beside, never shipped.

Features are cached in ``data/selector/`` (collecting embeds every candidate sentence once: the
slow part), so refitting takes seconds.

Usage::

    python -m eval.train_selector                 # collect what is missing, fit, write the model
    python -m eval.train_selector --experiment    # also report on cail2019_rc and ncp_policy
    python -m eval.train_selector.threshold       # the threshold again with the asked rule, and its ablation

Parts: ``config`` (paths, sets, fixed choices), ``pools`` (questions and their knowledge bases),
``collect`` (features, cached), ``fit`` (models, threshold, ablations), ``threshold`` (the
refusal threshold with the select stage's asked rule), ``__main__`` (the command).
"""

from eval.train_selector.collect import pool_key, read_cached
from eval.train_selector.config import CACHE, LAWS, OWN_SETS, SEED, SHIPPED_SETS
from eval.train_selector.pools import Question, is_dev

__all__ = ["CACHE", "LAWS", "OWN_SETS", "SEED", "SHIPPED_SETS", "Question", "is_dev", "pool_key", "read_cached"]
