/* Encrypted ballots, their check, the tracker and the Benaloh audit. Mirrors crypto/ballot.py
 * and crypto/audit.py: the same contexts, the same JSON, the same reasons where it matters. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const C = KZ.canonical;
  const G = KZ.group;
  const P = KZ.proofs;
  const { utf8, u64, taggedHash, hex, hexDecode, canonicalBytes } = C;
  const TAG_BALLOT_CONTEXT = "kz-tally/v1/ballot-context";
  const TAG_SELECTION = "kz-tally/v1/ballot-selection";
  const TAG_SUM = "kz-tally/v1/ballot-sum";
  const TAG_TRACKER = "kz-tally/v1/tracker";
  const AUDITED_FORMAT = "kz-tally/audited-ballot/v1";

  function ballotContext(manifestHash, unit, round, elector) {
    return taggedHash(TAG_BALLOT_CONTEXT, manifestHash, utf8(unit), u64(round), utf8(elector));
  }
  const selectionContext = (ctx, position, candidate) =>
    taggedHash(TAG_SELECTION, ctx, u64(position), utf8(candidate));
  const sumContext = (ctx, ids) => taggedHash(TAG_SUM, ctx, canonicalBytes(ids));

  // The unsigned ballot (envelope and content) and its nonces (hex), which stay in the page.
  function encryptBallot(manifestHashHex, unit, round, elector, candidates, choice, keyHex) {
    const mh = hexDecode(manifestHashHex, 32);
    const key = G.publicPointFromHex(keyHex);
    if (choice !== null && !candidates.includes(choice)) {
      throw new Error("the choice is not one of the round's candidates");
    }
    const ctx = ballotContext(mh, unit, round, elector);
    const selections = [];
    const nonces = [];
    const cts = [];
    let nonceSum = new Uint8Array(32);
    candidates.forEach((candidate, position) => {
      const value = candidate === choice ? 1 : 0;
      const nonce = G.sRandom();
      const ct = P.encrypt(value, key, nonce);
      const proof = P.proveZeroOrOne(ct, value, nonce, key, selectionContext(ctx, position, candidate));
      selections.push({ candidate, ciphertext: { a: hex(ct.a), b: hex(ct.b) }, proof });
      nonces.push(hex(nonce));
      nonceSum = G.sAdd(nonceSum, nonce);
      cts.push(ct);
    });
    const sumProof = P.proveZeroOrOne(P.addCiphertexts(cts), choice === null ? 0 : 1, nonceSum,
      key, sumContext(ctx, candidates));
    const ballot = { election: manifestHashHex, unit, round, elector, selections, sum_proof: sumProof };
    return { ballot, nonces };
  }

  function signingBytes(ballot) {
    const rest = {};
    for (const k of Object.keys(ballot)) if (k !== "signature") rest[k] = ballot[k];
    return canonicalBytes(rest);
  }

  function tracker(ballot) {
    return hex(taggedHash(TAG_TRACKER, signingBytes(ballot)));
  }

  function signBallot(unsigned, key) {
    return Object.assign({}, unsigned, { signature: hex(key.sign("ballot", signingBytes(unsigned))) });
  }

  function verifyBallotSignature(ballot, publicKey) {
    try {
      return KZ.signing.verify(publicKey, "ballot", signingBytes(ballot), hexDecode(ballot.signature, 64));
    } catch (e) {
      return false;
    }
  }

  const CONTENT = ["selections", "sum_proof"];
  const ENVELOPE = ["election", "elector", "round", "signature", "unit"];

  // null if `ballot` (content, unsigned or signed ballot) is valid for this elector and round,
  // else a short reason. Never throws because of the ballot.
  function checkBallot(manifestHashHex, unit, round, elector, ids, ballot, keyHex) {
    try {
      const key = G.publicPointFromHex(keyHex);
      const ctx = ballotContext(hexDecode(manifestHashHex, 32), unit, round, elector);
      if (!ballot || typeof ballot !== "object" || Array.isArray(ballot)) return "the ballot is not an object";
      const keys = Object.keys(ballot).sort().join();
      const allowed = [CONTENT, CONTENT.concat(ENVELOPE), CONTENT.concat(ENVELOPE.filter((k) => k !== "signature"))]
        .map((k) => k.slice().sort().join());
      if (!allowed.includes(keys)) return "unexpected or missing fields";
      if ("election" in ballot) {
        if (ballot.election !== manifestHashHex) return "the ballot is for another election";
        if (ballot.unit !== unit) return "the ballot is for another unit";
        if (ballot.round !== round) return "the ballot is for another round";
        if (ballot.elector !== elector) return "the ballot names another elector";
      }
      const sels = ballot.selections;
      if (!Array.isArray(sels)) return "selections is not a list";
      if (sels.length !== ids.length) return "candidates do not match the round's list";
      const cts = [];
      for (let i = 0; i < sels.length; i++) {
        const sel = sels[i];
        const label = `selection ${i + 1}`;
        if (!sel || typeof sel !== "object" || Object.keys(sel).sort().join() !== "candidate,ciphertext,proof") {
          return `${label}: expected exactly the fields candidate, ciphertext, proof`;
        }
        if (sel.candidate !== ids[i]) return "candidates do not match the round's list";
        const c = sel.ciphertext;
        if (!c || typeof c !== "object" || Object.keys(c).sort().join() !== "a,b") return `${label}: malformed ciphertext`;
        let ct;
        try {
          ct = { a: G.pointFromHex(c.a), b: G.pointFromHex(c.b) };
        } catch (e) {
          return `${label}: invalid point encoding`;
        }
        if (G.isZero(ct.a)) return `${label}: degenerate ciphertext (a is the identity)`;
        let proof;
        try {
          proof = P.proofFromJson(sel.proof);
        } catch (e) {
          return `${label}: malformed proof`;
        }
        if (!P.verifyZeroOrOne(ct, key, proof, selectionContext(ctx, i, ids[i]))) {
          return `${label}: proof of 0-or-1 fails`;
        }
        cts.push(ct);
      }
      let sumProof;
      try {
        sumProof = P.proofFromJson(ballot.sum_proof);
      } catch (e) {
        return "malformed sum proof";
      }
      if (!P.verifyZeroOrOne(P.addCiphertexts(cts), key, sumProof, sumContext(ctx, ids))) return "sum proof fails";
      return null;
    } catch (e) {
      return `the ballot could not be checked (${e.name})`;
    }
  }

  function makeAudited(ballot, nonces, choice) {
    return { format: AUDITED_FORMAT, tracker: tracker(ballot), choice, nonces, ballot };
  }

  // [null, what it encrypts] if the audited ballot checks, else [reason, ""]. `ids` are the
  // round's candidates; `keyHex` the signed manifest's election key.
  function checkAudited(audited, manifestHashHex, ids, keyHex) {
    try {
      const fields = "ballot,choice,format,nonces,tracker";
      if (!audited || Object.keys(audited).sort().join() !== fields) return ["malformed audited ballot", ""];
      if (audited.format !== AUDITED_FORMAT) return [`the format is not ${AUDITED_FORMAT}`, ""];
      const b = audited.ballot;
      if ("signature" in b) return ["the ballot is not an unsigned ballot (it must have no signature)", ""];
      const reason = checkBallot(manifestHashHex, b.unit, b.round, b.elector, ids, b, keyHex);
      if (reason !== null) return [`the ballot's proofs: ${reason}`, ""];
      if (audited.tracker !== tracker(b)) return ["the tracker is not the hash of this ballot", ""];
      const choice = audited.choice;
      if (choice !== null && !ids.includes(choice)) return ["the choice is not a candidate of this round", ""];
      if (!Array.isArray(audited.nonces) || audited.nonces.length !== ids.length) {
        return ["there is not one nonce per selection", ""];
      }
      const key = G.publicPointFromHex(keyHex);
      for (let i = 0; i < ids.length; i++) {
        const nonce = G.scalarFromHex(audited.nonces[i]);
        if (G.isZero(nonce)) return [`selection ${i + 1}: the nonce is zero`, ""];
        const v = ids[i] === choice ? 1 : 0;
        const want = P.encrypt(v, key, nonce);
        const got = b.selections[i].ciphertext;
        if (hex(want.a) !== got.a || hex(want.b) !== got.b) {
          return [`selection ${i + 1} (${ids[i]}) does not encrypt ${v} with the revealed nonce: ` +
            "the device encrypted something else than the choice it shows", ""];
        }
      }
      return [null, choice === null ? "a blank ballot" : `a vote for ${choice}`];
    } catch (e) {
      return [`malformed audited ballot (${e.message})`, ""];
    }
  }

  KZ.ballot = { ballotContext, encryptBallot, signingBytes, tracker, signBallot,
    verifyBallotSignature, checkBallot, makeAudited, checkAudited, AUDITED_FORMAT };
})(typeof globalThis !== "undefined" ? globalThis : this);
