"""A guardian follows the logs while rounds are open (``tally-service guardian watch``).

Every poll fetches the sealed manifest (checked against the guardian's pins), then the newest
signed checkpoint of every log the service lists. Each checkpoint is verified with the unit's
log key and handed to the guardian state, which asks the service for a consistency proof from
the largest checkpoint it has seen and keeps any conflicting pair as evidence. The more a
guardian has seen, the less room the service has to show it a different "final" log later.

The guardian only makes outgoing requests: it serves nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crypto.canonical import hash_json
from crypto.checkpoint import CheckpointError, checkpoint_facts, open_checkpoint
from crypto.cosignature import Cosigner, is_final
from crypto.note import NoteError, NoteVerifier, parse_note, verifier_key, verify_note
from crypto.signing import VerifyKey
from crypto.witness_policy import WitnessPolicy
from tally_service.guardian_state import GuardianRefusal, GuardianState
from tally_service.problems import Problem

MANIFEST_HASH_TAG = "kz-tally/v1/manifest"


@dataclass
class WatchReport:
    """What one poll saw: checkpoints accepted, and refusals (each with evidence saved)."""

    accepted: list[str] = field(default_factory=list)
    unchanged: int = 0
    refusals: list[str] = field(default_factory=list)
    cosigned: list[str] = field(default_factory=list)  # as a witness (issue 18)


def checked_manifest(client: Any, state: GuardianState) -> dict[str, Any]:
    """The service's sealed manifest, signed by a commission key it lists, checked against the
    guardian's pins (joint key, ceremony hash, and the manifest hash once pinned)."""
    from tally_service.guardian import open_signed_manifest

    manifest = open_signed_manifest(client.get("/manifest"))
    state.check_manifest(manifest, hash_json(MANIFEST_HASH_TAG, manifest).hex())
    return manifest


def watch_once(
    client: Any, state: GuardianState, cosigner: Cosigner | None = None
) -> WatchReport:
    """One poll over every log of the election. With ``cosigner``, a guardian the manifest lists
    among the witnesses also cosigns each checkpoint it accepted and posts the cosignature back
    (pull mode: it serves nothing); it then follows the newest signed checkpoints, not only
    those that already have the witnesses' quorum."""
    manifest = checked_manifest(client, state)
    witness = _listed(manifest, cosigner)
    units = {u["code"]: u for u in manifest["units"]}
    commission = [
        NoteVerifier.parse(verifier_key(manifest["commission"]["name"], VerifyKey.from_hex(k)))
        for k in manifest["commission"]["keys"]
    ]
    report = WatchReport()
    for unit in client.get("/units")["units"]:
        code = unit.get("code")
        if code not in units:
            continue
        log_key = NoteVerifier.parse(units[code]["log_key"])
        for r in unit.get("rounds", []):
            round_no = r["round"]
            origin = f"{manifest['origin']}/{code}/{round_no}"
            base = f"/units/{code}/rounds/{round_no}"
            try:
                note = (
                    client.get(f"{base}/checkpoints")["checkpoints"][-1]["note"]
                    if witness is not None
                    else client.get_text(f"{base}/checkpoint")
                )
            except Problem as exc:
                if exc.status != 404:  # 404: no current checkpoint yet (none with its quorum)
                    report.refusals.append(f"{origin}: no checkpoint from the service: {exc}")
                continue
            except Exception as exc:  # a failed answer is reported; the next poll tries again
                report.refusals.append(f"{origin}: no checkpoint from the service: {exc}")
                continue
            try:
                cp = open_checkpoint(note, log_key, origin)
            except CheckpointError as exc:
                report.refusals.append(f"{origin}: the newest checkpoint does not verify: {exc}")
                continue
            try:
                final = checkpoint_facts(cp).final
                if final:  # a final checkpoint must carry the commission's signature too
                    verify_note(note, commission)
                if state.observe(cp, note, _consistency(client, base), final=final):
                    report.accepted.append(f"{origin} size {cp.size}")
                else:
                    report.unchanged += 1
            except (CheckpointError, NoteError) as exc:
                report.refusals.append(f"{origin}: the newest checkpoint: {exc}")
                continue
            except GuardianRefusal as exc:
                report.refusals.append(str(exc))
                continue
            if witness is not None:
                _cosign(client, base, witness, cp, note, report)
    return report


def _listed(manifest: dict[str, Any], cosigner: Cosigner | None) -> Cosigner | None:
    """The cosigner, if the manifest names its key among the witnesses."""
    if cosigner is None:
        return None
    policy = WitnessPolicy.from_manifest(manifest.get("witnesses"))
    if policy is None or cosigner.public not in policy.witnesses:
        return None
    return cosigner


def _cosign(
    client: Any, base: str, witness: Cosigner, cp: Any, note: str, report: WatchReport
) -> None:
    """Cosign an accepted checkpoint (once) and post it to the service."""
    final = is_final(cp)  # a final counts only the finality statement (crypto/cosignature.py)
    key = witness.public.finality() if final else witness.public
    ident = (key.name, key.key_id)
    if any((s.name, s.key_hash) == ident for s in parse_note(note).signatures):
        return
    now = int(time.time())
    line = witness.cosign(cp, now).line()
    if final:  # observe() accepted it: consistent with everything this guardian saw
        line += witness.cosign_final(cp, now).line()
    answer = client.session.post(
        f"{client.url}{base}/cosignatures", data=(note + line).encode("utf-8"), timeout=60
    )
    if answer.status_code == 200:
        report.cosigned.append(f"{cp.origin} size {cp.size}")
    else:
        report.refusals.append(
            f"{cp.origin}: the service did not take the cosignature: HTTP {answer.status_code}"
        )


def _consistency(client: Any, base: str) -> Callable[[int, int], list[bytes]]:
    def fetch(size1: int, size2: int) -> list[bytes]:
        answer = client.get(f"{base}/proof/consistency", **{"from": size1, "to": size2})
        proof = answer.get("proof") if isinstance(answer, dict) else None
        if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
            raise ValueError("the service's consistency proof is malformed")
        return [bytes.fromhex(h) for h in proof]

    return fetch
