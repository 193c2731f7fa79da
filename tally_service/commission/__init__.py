"""The commission's tools (``tally-service keygen``, and with ``--url`` open-round, close-round,
turnout, status, tally, results, export): requests to the running service, each signed by the
commission's key, run from the commission's own machine."""
