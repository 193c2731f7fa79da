"""Pure cryptographic primitives of the tally service.

Nothing in this package does I/O or imports from ``tally_service`` or ``schemas``: the observer's
verifier stands on it alone. Every module is small and named for what it holds:

- ``canonical``: RFC 8785 canonical JSON, domain-separated SHA-256, hex/base64 helpers
- ``signing``: Ed25519 keys and signatures bound to a named context
- ``merkle``: RFC 9162 Merkle tree hashing, proofs and an append-only tree
- ``note``: C2SP signed notes; ``checkpoint``: C2SP tlog-checkpoint and tlog-proof
- ``group``, ``elgamal``, ``proofs``, ``ballot``, ``guardians``, ``decryption``: ballot secrecy
- ``rules``: the election rules (quorum, threshold, runoff, lot), shared by service and verifier
"""
