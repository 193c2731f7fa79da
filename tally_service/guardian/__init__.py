"""A guardian's program (``tally-service guardian ...``), run on the guardian's own machine.

Its identity and secrets sealed under a passphrase (identity.py), its durable memory
(state.py), its part of the key ceremony (ceremony.py), following the logs (watch.py), and the
checks before a signed partial decryption (checks.py, decrypt.py). It talks to the service only
over HTTP and trusts nothing the service says that it cannot check."""
