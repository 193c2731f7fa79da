"""The checkout's tools: the observer's verifier (``scripts.verifier``, ``scripts/verify.py``),
the elector's receipt checker (``scripts/verify_receipt.py``), the demo and the benchmarks.

A package only so that ``scripts.verifier`` imports by one name everywhere (the entry scripts,
``python -m scripts.verify`` from the checkout, the tests, and mutation-testing tools); each
script still runs as a file.
"""
