"""The credential authority's program (``tally-service credentials``): a code for each elector,
the matching public keys for the commission's rolls. It never talks to the service."""
