import test from "ava";
import fc from "fast-check";
import { Validator } from "./index.js";
import { KeyPool, buildChain, chainParams, expectedFailures } from "./testing/chains.js";

/**
 * Oracle property: chains of depth 1-4 with random validity windows, cA flags,
 * pathLen, keyUsage, CRL presence/expiry and revocation dates (before and after
 * the validation time) validate exactly as their parameters imply.
 */

const pool = new KeyPool(8);

test("generated chains validate as their parameters imply", (t) => {
  const v = new Validator();
  let valid = 0;
  let invalid = 0;
  let n = 0;
  fc.assert(
    fc.property(chainParams(), (p) => {
      const c = buildChain(p, `o${n++}`, pool);
      const r = v.validate(c.leaf, { anchors: [c.root], intermediates: c.intermediates, crls: c.crls, time: c.time, usage: p.usage });
      const expected = expectedFailures(p);
      if (r.valid) {
        valid++;
        return expected.size === 0;
      }
      invalid++;
      return expected.has(r.code);
    }),
    { numRuns: 300, seed: 4242 },
  );
  // The generator must exercise both outcomes, or the property proves little.
  t.true(valid > 30, `valid cases: ${valid}`);
  t.true(invalid > 30, `invalid cases: ${invalid}`);
});

test("intermediates shuffled into a larger pool still find their path", (t) => {
  const v = new Validator();
  let n = 0;
  fc.assert(
    fc.property(chainParams(), fc.array(chainParams(), { minLength: 1, maxLength: 2 }), (p, others) => {
      const c = buildChain(p, `s${n++}`, pool);
      const noise = others.flatMap((o) => buildChain(o, `s${n++}`, pool).intermediates);
      const r = v.validate(c.leaf, { anchors: [c.root], intermediates: [...noise, ...c.intermediates].reverse(), crls: c.crls, time: c.time, usage: p.usage });
      const expected = expectedFailures(p);
      return r.valid ? expected.size === 0 : expected.has(r.code);
    }),
    { numRuns: 60, seed: 7 },
  );
  t.true(n > 60);
});

test("cross-certified loops and same-name decoys end within the building budget", async (t) => {
  const { KU, buildCert, name, newKey } = await import("./testing/builder.js");
  const T = Date.UTC(2030, 0, 1);
  const keys = Array.from({ length: 4 }, () => newKey("p256"));
  const names = keys.map((_, i) => name(["CN", `loop ${i}`]));
  // Every CA certifies every other one: many simple paths, none reaching an anchor.
  const pool: Uint8Array[] = [];
  let serial = 1;
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < 4; j++)
      if (i !== j)
        for (let k = 0; k < 3; k++)
          pool.push(buildCert({ serial: serial++, issuer: names[i], subject: names[j], notBefore: T - 1e10, notAfter: T + 1e10, subjectKey: keys[j], issuerKey: keys[i], ca: true, keyUsage: KU.keyCertSign, keyIds: false }));
  const leaf = buildCert({ serial: 999, issuer: names[0], subject: name(["CN", "leaf"]), notBefore: T - 1e9, notAfter: T + 1e9, subjectKey: newKey("p256"), issuerKey: keys[0] });
  const unrelated = newKey("p256");
  const anchorName = name(["CN", "anchor"]);
  const anchor = buildCert({ serial: 1, issuer: anchorName, subject: anchorName, notBefore: T - 1e10, notAfter: T + 1e10, subjectKey: unrelated, issuerKey: unrelated, ca: true });
  const r = new Validator().validate(leaf, { anchors: [anchor], intermediates: pool, time: T });
  t.false(r.valid);
  if (!r.valid) t.true(["unknown-issuer", "path-too-long"].includes(r.code), r.code);
});
