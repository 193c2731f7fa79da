"""kz-tally's programs, one package per party (docs/architecture.md, "The parties").

- ``service/``: what the operator runs: casting, the logs, witnessing, the tally, the HTTP API
  and pages, the key ceremony's board, the election's set-up on its store.
- ``commission/``: the commission's tools: its signed requests to the service.
- ``guardian/``: a guardian's program, on the guardian's own machine.
- ``witness/``: a witness's program, on the witness's own machine.
- ``elector/``: the elector's side: build, encrypt and sign a ballot; ``tally-service vote``.
- ``credential_authority/``: codes for electors, public keys for the commission.
- ``common/``: the small helpers they share.

Each party's package imports only ``crypto/``, ``schemas/``, ``common/`` and itself
(tests/test_layering.py); ``cli.py`` is the one place that puts their commands together under
``tally-service``.
"""
