import test from "ava";
import { CaError, type CaAdapter, type IssueRequest, type IssuedCertificate } from "../../simulator/ca/index.js";
import { EventBus, SystemClock, type AnyEvent } from "../../core/index.js";
import { InstantCa } from "../adapters/instant.js";
import { canonicalSerial, prepareTargets, type PrepareOptions } from "./prepare.js";

const YEAR = 365 * 86_400_000;

function bus() {
  const b = new EventBus(new SystemClock());
  const events: AnyEvent[] = [];
  b.on((e) => events.push(e));
  return { bus: b, events };
}

function options(o: Partial<PrepareOptions> = {}): PrepareOptions {
  return { count: 10, control: 2, concurrency: 4, runId: "r1", cardExpiry: new Date(Date.now() + YEAR), ...o };
}

test("issues count + control certificates through the CA: holders, codes, serials and the issuer as the run needs them", async (t) => {
  const ca = await InstantCa.create();
  try {
    const { bus: b, events } = bus();
    const progress: Array<[number, number]> = [];
    const p = await prepareTargets({ ca, bus: b }, options({ count: 30, control: 5, raToken: ca.credentials().raToken, onProgress: (d, f) => progress.push([d, f]) }), { metricsEveryMs: 5 });
    t.is(p.targets.length, 30);
    t.is(p.control.length, 5);
    t.is(p.failed.size, 0);
    t.deepEqual(progress.at(-1), [35, 0]);
    // the issuing CA's certificate, not the root
    t.regex(p.issuerPem ?? "", /BEGIN CERTIFICATE/);
    t.not(p.issuerPem, (await ca.anchors())[0]);
    t.deepEqual(p.targets[3].holder && { ...p.targets[3].holder, code: "?" }, { id: "load-r1-3", name: "Load Holder 3", email: "3.r1@load.invalid", code: "?" });
    t.is(p.control[0].holder?.id, "load-r1-30");
    const all = [...p.targets, ...p.control];
    t.is(new Set(all.map((x) => x.serial)).size, 35);
    for (const x of all) {
      t.regex(x.serial, /^[1-9a-f][0-9a-f]*$/);
      t.truthy(x.holder?.code);
      t.is((await ca.status(x.serial)).status, "good");
    }
    // the holder's code works for a revocation: it is the CA's, kept as given
    const r = await ca.revoke({ serial: p.targets[0].serial, reason: "keyCompromise", role: "holder", code: p.targets[0].holder!.code });
    t.is(r.status, "revoked");
    const samples = events.filter((e) => e.type === "metric.sample").map((e) => e.data as { name: string; unit: string; labels?: Record<string, string> });
    t.true(samples.length > 0 && samples.every((s) => s.name === "load.throughput" && s.unit === "1/s" && s.labels?.phase === "prepare"));
    t.false(JSON.stringify(events).includes(p.targets[1].holder!.code!));
  } finally {
    await ca.close();
  }
});

/** A CA that issues fake certificates, with `concurrency` tracking and a failure rule. */
function fakeCa(fail: (n: number) => unknown = () => undefined, delayMs = 1) {
  let n = 0;
  const state = { inFlight: 0, peak: 0, requests: [] as IssueRequest[] };
  const ca = {
    name: "fake",
    capabilities: () => ({}),
    async issue(req: IssueRequest): Promise<IssuedCertificate> {
      const i = n++;
      state.requests.push(req);
      state.inFlight++;
      state.peak = Math.max(state.peak, state.inFlight);
      try {
        await new Promise((r) => setTimeout(r, delayMs));
        const err = fail(i);
        if (err) throw err;
        return { serial: "00" + (0xabc0 + i).toString(16).toUpperCase(), certificatePem: "", chainPem: ["ISSUER"], notBefore: new Date(0), notAfter: new Date(0), cancellationCodes: { holder: `c${i}` } };
      } finally {
        state.inFlight--;
      }
    },
  } as unknown as CaAdapter;
  return { ca, state };
}

test("failures are counted by class and the run goes on; a failed target is simply not in the list", async (t) => {
  const { ca } = fakeCa((i) => (i % 5 === 4 ? new CaError(503, "busy", "later") : i === 7 ? Object.assign(new Error("x"), { code: "ECONNRESET" }) : undefined));
  const p = await prepareTargets({ ca, bus: new EventBus(new SystemClock()) }, options({ count: 20, control: 5 }));
  t.deepEqual([...p.failed].sort(), [["5xx 503", 5], ["reset", 1]]);
  t.is(p.targets.length + p.control.length, 19);
  t.is(p.targets.length, 15); // of indices 0..19 (the targets), 4, 7, 9, 14 and 19 failed
  t.is(p.issuerPem, "ISSUER");
  t.is(p.targets[0].serial, "abc0"); // normalised
});

test("keeps `concurrency` requests in flight, sends the RA token, the profile and the card expiry, and cycles a handful of CSRs", async (t) => {
  const { ca, state } = fakeCa();
  const expiry = new Date(Date.now() + YEAR);
  await prepareTargets({ ca, bus: new EventBus(new SystemClock()) }, options({ count: 40, control: 0, concurrency: 6, raToken: "ra", cardExpiry: expiry }));
  t.is(state.peak, 6);
  t.true(state.requests.every((r) => r.raToken === "ra" && r.profile === "authentication" && r.cardExpiry === expiry && r.holder.organisation === undefined));
  const csrs = new Set(state.requests.map((r) => r.csrPem));
  t.true(csrs.size > 1 && csrs.size <= 8, `${csrs.size} CSRs`);
});

test("an abort stops issuing; what was issued is returned", async (t) => {
  const abort = new AbortController();
  const { ca } = fakeCa();
  const p = await prepareTargets({ ca, bus: new EventBus(new SystemClock()), signal: abort.signal }, options({ count: 100_000, control: 0, onProgress: () => abort.abort() }));
  t.true(p.targets.length > 0 && p.targets.length < 100_000);
});

test("bad options are refused before anything is issued", async (t) => {
  const { ca, state } = fakeCa();
  const c = { ca, bus: new EventBus(new SystemClock()) };
  await t.throwsAsync(prepareTargets(c, options({ count: -1 })), { instanceOf: RangeError });
  await t.throwsAsync(prepareTargets(c, options({ concurrency: 0 })), { instanceOf: RangeError });
  await t.throwsAsync(prepareTargets(c, options({ runId: "a b" })), { instanceOf: RangeError });
  await t.throwsAsync(prepareTargets(c, options({ cardExpiry: new Date(Number.NaN) })), { instanceOf: RangeError });
  t.is(state.requests.length, 0);
});

test("canonicalSerial keeps a canonical serial (the CA's own string) and normalises any other spelling", (t) => {
  for (const s of ["0", "1", "7fab01", "4" + "1".repeat(31)]) t.is(canonicalSerial(s), s);
  t.is(canonicalSerial("00ab"), "ab");
  t.is(canonicalSerial("7FAB"), "7fab");
  t.is(canonicalSerial("7f:ab"), "7fab");
  t.is(canonicalSerial("00"), "0");
  t.is(canonicalSerial(""), "0");
});
