import test from "ava";
import { generateKeyPairSync } from "node:crypto";
import { pemToDer, signedOcspResponse, softwareSigningKey } from "../../pki/index.js";
import { EventBus, SystemClock } from "../../core/index.js";
import type { CaAdapter } from "../../simulator/ca/index.js";
import { InstantCa } from "../adapters/instant.js";
import { buildOcspRequest, makeCsr, parseOcspResponse } from "../pkix.js";
import { checkCompleteness } from "./completeness.js";
import { nextOcspBatch } from "./ocsp-batch.js";
import { OcspSignatureCheck } from "./ocsp-signature.js";
import { PropagationWatcher } from "./propagation.js";

/**
 * The CA's OCSP answers, word for word, but signed with a key that is not the
 * CA's (the issuer's certificate sent along, its key hash as responder ID): a
 * stale cache or a proxy that speaks in the CA's name.
 */
function resignedByStranger(ca: CaAdapter, issuerPem: string): CaAdapter {
  const stranger = softwareSigningKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
  const responder = { signer: stranger, certificate: pemToDer(issuerPem) };
  return Object.assign(Object.create(ca) as CaAdapter, {
    ocsp: async (req: Uint8Array, method?: "GET" | "POST") => {
      const info = parseOcspResponse(await ca.ocsp(req, method));
      return info.tbs ? signedOcspResponse(responder, info.tbs, stranger.sign(info.tbs)) : info.der;
    },
  });
}

async function setUp(n: number) {
  const ca = await InstantCa.create();
  const csr = await makeCsr("load");
  const raToken = ca.credentials().raToken;
  const serials: string[] = [];
  let issuerPem = "";
  for (let i = 0; i < n; i++) {
    const c = await ca.issue({ csrPem: csr.pem, profile: "authentication", holder: { id: `H${i}`, name: `Holder ${i}`, email: "h@example.org" }, raToken });
    serials.push(c.serial);
    issuerPem = c.chainPem[0];
  }
  const token = ca.credentials().operatorToken!;
  for (const serial of serials) await ca.revoke({ serial, reason: "keyCompromise", role: "operator", operatorToken: token });
  return { ca, serials, issuerPem, bus: new EventBus(new SystemClock()) };
}

test("the CA's own answers verify; the same answers signed with another key do not", async (t) => {
  const { ca, serials, issuerPem } = await setUp(2);
  t.teardown(() => ca.close());
  const check = new OcspSignatureCheck(issuerPem);
  const req = buildOcspRequest(issuerPem, serials);
  t.true(await check.verified(parseOcspResponse(await ca.ocsp(req))));
  t.false(await check.verified(parseOcspResponse(await resignedByStranger(ca, issuerPem).ocsp(req, "POST"))));
});

test("completeness: a revoked answer signed by a stranger is an error (verification incomplete), never revoked", async (t) => {
  const { ca, serials, issuerPem, bus } = await setUp(4);
  t.teardown(() => ca.close());
  // no CRL: only OCSP could say they were published
  const lying = Object.assign(resignedByStranger(ca, issuerPem), { capabilities: () => ({ ...ca.capabilities(), crl: false }) });
  const acked = serials.map((serial) => ({ serial, reason: "keyCompromise" as const, ackedAt: performance.now() }));
  const r = await checkCompleteness({ ca: lying, bus }, { acked, control: [], failedSerials: [], issuerPem, requestTimeoutMs: 2000, retryForMs: 100 });
  t.regex(r.note ?? "", /not signed by the issuing CA or a responder it delegated/);
  t.false(r.lost.some((l) => l.ocsp === "revoked"));
});

test("propagation: a stranger's signature is never seen as revoked; the OCSP note says bad signature", async (t) => {
  const { ca, serials, issuerPem, bus } = await setUp(3);
  t.teardown(() => ca.close());
  const lying = resignedByStranger(ca, issuerPem);
  const watcher = new PropagationWatcher({ ca: lying, bus }, { sample: 3, expected: 3, issuerPem, ocspPollMs: 20, crlPollMs: 50, timeoutMs: 300 });
  for (const serial of serials) watcher.onAck({ serial, reason: "keyCompromise", ackedAt: performance.now() });
  const r = await watcher.finish();
  t.deepEqual(r.ocsp.delaysMs, []);
  t.is(r.ocsp.notSeen.length, 3);
  t.regex(r.ocspNote ?? "", /bad signature/);
  // the CRL (signed by the CA) still shows them
  t.is(r.crl.delaysMs.length, 3);
});

test("nextOcspBatch: halved on a refusal, 1 when fewer answered than asked, unchanged otherwise or for one CertID", (t) => {
  t.is(nextOcspBatch(100, 100, { refused: true, answered: 0 }), 50);
  t.is(nextOcspBatch(30, 100, { refused: true, answered: 0 }), 30);
  t.is(nextOcspBatch(100, 100, { refused: false, answered: 1 }), 1);
  t.is(nextOcspBatch(100, 100, { refused: false, answered: 100 }), 100);
  t.is(nextOcspBatch(100, 1, { refused: true, answered: 0 }), 100);
});
