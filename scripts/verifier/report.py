"""The verifier's report: numbered checks, what each covered, and exactly what failed.

Threat: text from the record (a guardian's signed objection, names) reaches the observer's
terminal; an escape sequence in it could print a fake result and conceal the real one. The
text report writes every control or invisible character out as an escape (``shown``).

Failures are listed up to ``MAX_LISTED`` per check; beyond that they are only counted, so a
record with a million bad ballots still gives a readable report in bounded memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TextIO

MAX_LISTED = 20
#: The longest text of a failure kept: a reason may quote a value of the record nobody signed
#: (a key id, a field), and the report outlives the document, is saved and printed.
MAX_FAILURE_TEXT = 4096


def _capped(text: str) -> str:
    if len(text) <= MAX_FAILURE_TEXT:
        return text
    return f"{text[:MAX_FAILURE_TEXT]}... (cut: {len(text)} characters)"

#: The checks of docs/architecture.md ("The verifier and the receipt checker"), in order.
TITLES: dict[str, str] = {
    "V1": "manifest: signed by a commission key, schema, unique ids, units, rolls and keys",
    "V2": "key ceremony: signed messages, reveals vs commitments, proofs, QUAL, joint key, "
    "confirmations",
    "V3": "ballots: on the roll, signed, one per elector and round, validity proofs, bindings",
    "V4": "logs: roots and signatures of every checkpoint, consistency, final checkpoint",
    "V5": "encrypted tally = component-wise sum of the ballots in the final log",
    "V6": "partial decryptions: guardians' signatures, proofs, at least k guardians, "
    "Lagrange combination = counts",
    "V7": "counts: per candidate plus blank = took part <= registered",
    "V8": "rules: quorum, threshold, runoff need and candidates, winners",
    "V9": "results: commission-signed, equal to the recomputed figures, final -> preliminary",
}


@dataclass(frozen=True)
class Failure:
    where: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "why": self.why}


@dataclass
class Check:
    id: str
    title: str
    checked: dict[str, Any] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    failure_count: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure_count == 0

    def fail(self, where: str, why: str) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append(Failure(_capped(where), _capped(why)))

    def count(self, key: str, n: int = 1) -> None:
        self.checked[key] = int(self.checked.get(key, 0)) + n

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "ok": self.ok,
            "checked": dict(self.checked),
            "failures": [f.to_json() for f in self.failures],
            "failure_count": self.failure_count,
        }
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass
class Report:
    record: str
    checks: dict[str, Check] = field(default_factory=dict)
    seconds: float = 0.0
    trust: str = ""  # what the run was pinned by, or the UNPINNED line (scripts/verifier/trust.py)

    @classmethod
    def new(cls, record: str) -> Report:
        return cls(record, {cid: Check(cid, title) for cid, title in TITLES.items()})

    def __getitem__(self, check_id: str) -> Check:
        return self.checks[check_id]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    def failed(self) -> list[str]:
        return [c.id for c in self.checks.values() if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "trust": self.trust,
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks.values()],
        }

    def write_json(self, out: TextIO) -> None:
        json.dump(self.to_json(), out, ensure_ascii=False, indent=1)
        out.write("\n")

    def write_text(self, out: TextIO) -> None:
        out.write(f"Election record: {shown(self.record)}\n")
        if self.trust:
            out.write(f"Trust: {shown(self.trust)}\n")
        out.write("\n")
        for check in self.checks.values():
            verdict = "PASS" if check.ok else "FAIL"
            out.write(f"{check.id} {verdict}  {check.title}\n")
            if check.checked:
                out.write(f"        checked: {shown(describe(check.checked))}\n")
            for text in check.notes:
                out.write(f"        note: {shown(text)}\n")
            for failure in check.failures:
                out.write(f"        - {shown(failure.where)}: {shown(failure.why)}\n")
            hidden = check.failure_count - len(check.failures)
            if hidden > 0:
                out.write(f"        ... and {hidden} more failure(s) of {check.id}\n")
        out.write("\n")
        if self.ok:
            out.write(f"RESULT: PASS - all {len(self.checks)} checks passed")
        else:
            failed = self.failed()
            out.write(
                f"RESULT: FAIL - {len(failed)} of {len(self.checks)} checks failed "
                f"({', '.join(failed)})"
            )
        out.write(f" in {self.seconds:.1f} s\n")


def shown(text: str) -> str:
    """Text that may come from the record (a guardian's objection, a name), as the report
    prints it: every control or invisible character written as an escape (``\\u001b``), so no
    escape sequence or line break in the record can hide, rewrite or add a report line (a fake
    "RESULT: PASS" above the real result, then the rest concealed)."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def describe(checked: dict[str, Any]) -> str:
    """{"ballots": 2904, "logs": 20, "commission key": "ab12"} -> "2904 ballots, 20 logs,
    commission key ab12"."""
    parts = []
    for key, value in checked.items():
        if isinstance(value, bool):
            parts.append(f"{key}: {'yes' if value else 'no'}")
        elif isinstance(value, int):
            parts.append(f"{value} {key}")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts)
