// Node side of scripts/bench_booth.py: times the pages' JavaScript (the vendored libsodium.js
// and tally_service/service/static/js) for encrypt+prove+sign of 3- and 10-candidate ballots, and the
// receipt check against a live service. Reads one JSON job on stdin, prints JSON figures.
"use strict";
const path = require("path");
const { load } = require(path.join(__dirname, "..", "tests", "js", "kz_node.js"));

async function main() {
  const KZ = await load();
  const job = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const out = {};
  const key = KZ.signing.keyFromSeed(new Uint8Array(32).fill(7));
  for (const n of job.sizes) {
    const ids = Array.from({ length: n }, (_, i) => `U-C${i + 1}`);
    let best = Infinity;
    for (let r = 0; r < job.repeat; r++) {
      const t = performance.now();
      for (let i = 0; i < job.ballots; i++) {
        const { ballot } = KZ.ballot.encryptBallot(job.election, "U", 1, "U-E1", ids, ids[0], job.election_key);
        KZ.ballot.signBallot(ballot, key);
      }
      best = Math.min(best, (performance.now() - t) / job.ballots);
    }
    out[`encrypt_prove_sign_${n}`] = best;
  }
  if (job.receipt) {
    let best = Infinity;
    for (let r = 0; r < job.repeat; r++) {
      const t = performance.now();
      const v = await KZ.receipt.checkReceipt(job.receipt, KZ.receipt.serviceSource(job.url), {});
      if (!v.ok) throw new Error("the receipt did not check: " + JSON.stringify(v.items));
      best = Math.min(best, performance.now() - t);
    }
    out.receipt_check = best;
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { process.stderr.write(String(e.stack || e) + "\n"); process.exit(1); });
