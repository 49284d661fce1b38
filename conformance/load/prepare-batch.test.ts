import test from "ava";
import { EventBus, SystemClock } from "../../core/index.js";
import { CaError, EmbeddedCa, type CaAdapter, type IssueRequest } from "../../simulator/ca/index.js";
import { RefusingCa } from "../adapters/refusing.js";
import { prepareTargets, type PrepareOptions } from "./prepare.js";

/**
 * The prepare phase through bulk issuance (`issueMany`), against the embedded CA in process (real SQLite, in
 * memory): batches of the size asked, a few in flight, refusals counted by class item by item, a batch that fails
 * as a whole counted for all its items, and single issuance when the CA turns out to have no bulk endpoint.
 */

const YEAR = 365 * 86_400_000;

function options(o: Partial<PrepareOptions> = {}): PrepareOptions {
  return { count: 40, control: 3, concurrency: 8, runId: "pb", cardExpiry: new Date(Date.now() + YEAR), ...o };
}

/** `ca` with its issue and issueMany calls counted (batch sizes and the most in flight at once). */
function counted(ca: CaAdapter, manyFails: (call: number) => unknown = () => undefined) {
  const state = { singles: 0, batches: [] as number[], inFlight: 0, peak: 0 };
  const many = ca.issueMany!.bind(ca);
  const wrapped = Object.assign(Object.create(ca) as CaAdapter, {
    issue: (req: IssueRequest) => {
      state.singles++;
      return ca.issue(req);
    },
    issueMany: async (reqs: IssueRequest[]) => {
      const call = state.batches.push(reqs.length) - 1;
      state.inFlight++;
      state.peak = Math.max(state.peak, state.inFlight);
      try {
        const err = manyFails(call);
        if (err) throw err;
        return await many(reqs);
      } finally {
        state.inFlight--;
      }
    },
  });
  return { ca: wrapped, state };
}

test("issues through issueMany in batches, a few in flight; each item's refusal counted by class; targets and control as the run needs them", async (t) => {
  const embedded = await EmbeddedCa.open({ kdfLog2N: 4 });
  try {
    // Every 9th holder refused by the (wrapped) CA, item by item, inside the batches.
    const refusing = new RefusingCa(embedded, [{ op: "issue", when: (r) => Number(r.holder.id.split("-").at(-1)) % 9 === 4, status: 403, reason: "holder-barred", message: "no" }]);
    const { ca, state } = counted(refusing);
    const progress: Array<[number, number]> = [];
    const p = await prepareTargets(
      { ca, bus: new EventBus(new SystemClock()) },
      options({ raToken: embedded.raToken, batch: 7, batchesInFlight: 2, onProgress: (d, f) => progress.push([d, f]) }),
    );
    t.is(state.singles, 0);
    t.deepEqual(state.batches, [7, 7, 7, 7, 7, 7, 1]);
    t.is(state.peak, 2);
    // Indices 4, 13, 22, 31 (targets) and 40 (control) refused.
    t.deepEqual([...p.failed], [["4xx 403 holder-barred", 5]]);
    t.is(p.targets.length, 36);
    t.is(p.control.length, 2);
    t.deepEqual(progress.at(-1), [38, 5]);
    t.regex(p.note ?? "", /bulk issuance \(issueMany\), 7 requests per batch, 2 in flight/);
    t.is(p.issuerPem, embedded.chainPem()[0]);
    for (const x of [...p.targets, ...p.control]) {
      t.is((await embedded.status(x.serial)).status, "good");
      t.regex(x.holder?.code ?? "", /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    }
    t.false(p.targets.some((x) => x.holder?.id === "load-pb-13"));
    // A holder's code from the batch revokes its certificate: the CA's codes, kept as answered.
    const r = await embedded.revoke({ serial: p.targets[0].serial, reason: "keyCompromise", role: "holder", code: p.targets[0].holder!.code, email: p.targets[0].holder!.email, name: p.targets[0].holder!.name });
    t.is(r.status, "revoked");
  } finally {
    await embedded.close();
  }
});

test("a batch failing as a whole (a reset connection) counts every item of it; the other batches issue", async (t) => {
  const embedded = await EmbeddedCa.open({ kdfLog2N: 4 });
  try {
    const { ca, state } = counted(embedded, (call) => (call === 1 ? Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }) : undefined));
    const p = await prepareTargets({ ca, bus: new EventBus(new SystemClock()) }, options({ count: 20, control: 0, raToken: embedded.raToken, batch: 5, batchesInFlight: 1 }));
    t.deepEqual(state.batches, [5, 5, 5, 5]);
    t.deepEqual([...p.failed], [["reset", 5]]);
    t.deepEqual(
      p.targets.map((x) => x.holder?.id),
      [0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19].map((i) => `load-pb-${i}`),
    );
  } finally {
    await embedded.close();
  }
});

test("an adapter with issueMany whose CA has no bulk endpoint (404 on the first batch): single requests, said in the note, nothing lost", async (t) => {
  const embedded = await EmbeddedCa.open({ kdfLog2N: 4 });
  try {
    const { ca, state } = counted(embedded, () => new CaError(404, "not-found", "no such endpoint"));
    const p = await prepareTargets({ ca, bus: new EventBus(new SystemClock()) }, options({ count: 12, control: 2, raToken: embedded.raToken, batch: 5 }));
    t.deepEqual(state.batches, [5]);
    t.is(state.singles, 14);
    t.is(p.failed.size, 0);
    t.is(p.targets.length + p.control.length, 14);
    t.regex(p.note ?? "", /no bulk issuance endpoint, single requests/);
  } finally {
    await embedded.close();
  }
});

test("batch 1 keeps single issuance even where issueMany exists; bad batch options are refused", async (t) => {
  const embedded = await EmbeddedCa.open({ kdfLog2N: 4 });
  try {
    const { ca, state } = counted(embedded);
    const p = await prepareTargets({ ca, bus: new EventBus(new SystemClock()) }, options({ count: 4, control: 0, raToken: embedded.raToken, batch: 1 }));
    t.is(state.batches.length, 0);
    t.is(state.singles, 4);
    t.is(p.targets.length, 4);
    t.regex(p.note ?? "", /single issuance requests/);
    await t.throwsAsync(prepareTargets({ ca, bus: new EventBus(new SystemClock()) }, options({ batch: 0 })), { instanceOf: RangeError });
    await t.throwsAsync(prepareTargets({ ca, bus: new EventBus(new SystemClock()) }, options({ batchesInFlight: 1.5 })), { instanceOf: RangeError });
  } finally {
    await embedded.close();
  }
});
