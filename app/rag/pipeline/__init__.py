"""The question pipeline, one file per stage, in the order they run:

analyse -> retrieve -> select -> assess -> answer -> cite

* ``analyse``: validate and normalise the question, resolve a follow-up, read what it asks for,
  and recognise requests handled by rules (injection, bulk personal data, small talk);
* ``retrieve``: hybrid search, dates (rules no longer in force), the worker's region, a section
  the question names, a guide's outline;
* ``select``: the learned selector scores every sentence of the passages;
* ``assess``: refuse when the best score is below the one threshold chosen on development data;
* ``answer``: extractive or LLM, behind one ``Answerer`` protocol, both streaming;
* ``cite``: markers renumbered into citations, originals of summaries cited beside them, and
  the source's nature on every line.

:class:`app.rag.assistant.Assistant` runs them; nothing else does.
"""
