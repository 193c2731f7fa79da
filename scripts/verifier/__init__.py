"""The observer's stand-alone verifier of a kz-tally election record.

It re-derives every figure of an election from its public record (docs/record.md) and reports
the numbered checks V1-V9 of docs/architecture.md ("The verifier and the receipt checker"). It
imports only the standard library, ``crypto``, ``schemas`` and ``tqdm``; never the service
(``tally_service``), so that trusting its verdict does not mean trusting the code that produced
the record.

Entry points: ``scripts/verify.py RECORD`` and, from the checkout, ``python -m scripts.verify
RECORD`` or ``python -m scripts.verifier RECORD``. In code:
``scripts.verifier.run.verify_record(path)`` returns a ``scripts.verifier.report.Report``.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "1.0"
