"""How large an honest document of an election can be: one set of bounds for every reader.

The threat: a hostile service (or a record from one) answers with more than any honest
document holds, to exhaust the memory or disk of whoever reads it. The observer's verifier
(scripts/verifier/record.py) and the parties' programs (tally_service/common/answers.py) refuse
anything larger than these bounds; both may import schemas/, neither the other, so the bounds
live here once and the two readers cannot drift apart.
"""

from __future__ import annotations

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: A manifest holds the rolls, so it grows with the electorate: about 155 bytes an elector, so
#: 128 MiB holds the rolls of the largest election the project supports (500,000 electors on
#: the rolls, five times the benchmarked 100,000; the Senate's 3,167 make well under 1 MiB).
MAX_MANIFEST_BYTES = 128 * MiB
#: The key ceremony's transcript (and the board's view of it) grows with n^2: every dealer's
#: share for every guardian.
MAX_CEREMONY_BYTES = 64 * MiB
#: A small document: a tally (n partial decryptions of a few candidates, each a few KiB), the
#: turnout, a proof (log2 of the size hashes), a receipt, a commission action's answer.
MAX_SMALL_JSON_BYTES = 16 * MiB
#: A row per unit (its names, candidates and rounds, about 1-2 KiB): the results document (a row
#: per unit and round), the list of units; an indirect election has thousands of units.
MAX_RESULT_BYTES = 64 * MiB
#: A round's checkpoint notes (one every 64 ballots or 5 s while ballots come, each under 7 KiB
#: with its cosignatures): a day of them stays far below this.
MAX_CHECKPOINTS_BYTES = 64 * MiB
#: A page of a JSON-lines file (entries, audit): at most 1,000 lines (docs/api.md), each at most
#: the service's largest request body (64 KiB by default). A ballot is about 0.6 KiB plus
#: 0.5 KiB per candidate: 5.4 KiB for 10, so an honest page of 1,000 is 5.3 MiB.
MAX_PAGE_BYTES = 64 * MiB
#: What a record may unpack to: an honest record of 500,000 ballots is a few GiB.
MAX_ARCHIVE_BYTES = 8 * GiB
