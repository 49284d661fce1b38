import { REASON_CODES, reasonForCode, type RevocationReason } from "../../core/index.js";
import { Certificate, pemToDer } from "../../pki/index.js";
import { CaError, type Provenance } from "../../simulator/ca/index.js";
import { buildOcspRequest, certIdNames, crlSignedBy, normSerial, parseCrl, parseOcspResponse, type SingleStatus } from "../pkix.js";
import { nextOcspBatch } from "./ocsp-batch.js";
import { OcspSignatureCheck } from "./ocsp-signature.js";
import { classifyError, withTimeout } from "./errors.js";
import { crlOfIssuer } from "./crl-search.js";
import type { Ack, Completeness, LoadTarget, PhaseContext } from "./types.js";

/*
 * The end of a load run (issue 13, verify phase): every acknowledged
 * revocation is on the final CRL and answered revoked by OCSP, with the reason
 * it was given; the control certificates are still good. The final CRL is
 * decoded fully (pki's parser), whatever its size; OCSP is asked with many
 * CertIDs per request, a bounded number in flight.
 *
 * "Final" means after the CA had its chance to publish: many CAs (CFSSL's
 * ocsprefresh, any CRL on a schedule) publish on a cycle, so the serials not
 * yet published at the first pass are checked again, those only, until they
 * are or until the settle deadline; only then are they lost.
 *
 * An artefact the adapter makes for a CA that has none (provenance `by:
 * "adapter"`, e.g. CFSSL's CRL built from its database's serial list) may
 * leave out what the CA never gave it (a reason): such a difference is not
 * held against the CA, and a note says so. A serial missing from it still
 * counts: the list comes from the CA's own records.
 */

export interface CompletenessOptions {
  acked: Ack[];
  control: LoadTarget[];
  /**
   * Targets the run never sent (--count below the prepared number, a --duration run cut short): a free, larger
   * control set, checked on the final CRL only (no OCSP request for each); listed there, they are wrongly revoked.
   */
  unsent?: LoadTarget[];
  /** Serials whose request failed: published as revoked anyway is counted (revokedDespiteError), not an error. */
  failedSerials: string[];
  issuerPem?: string;
  /** CertIDs per OCSP request (default 100: fewer requests for a million serials); fall back to one per request when the CA answers fewer. */
  ocspBatch?: number;
  /** OCSP requests in flight (default 16). */
  concurrency?: number;
  /** Per request (CRL fetch, OCSP exchange), default 15 s. */
  requestTimeoutMs?: number;
  /** How long to keep retrying a CA that cannot be reached (a supervisor may be restarting it), default 30 s. */
  retryForMs?: number;
  /** performance.now() until which serials not yet published are checked again (default: no second check). */
  settleUntil?: number;
  /** Between two re-checks (a CRL fetched at most this often), default 1 s. */
  recheckEveryMs?: number;
}

/** `note`: why verification is incomplete; `info`: what the summary's notes say besides (settling, provenance), one line each. */
export type CompletenessResult = Completeness & { ocspChecked: boolean; note?: string; info?: string[] };

type OcspState = "revoked" | "good" | "unknown" | "error";
interface OcspAnswer {
  state: OcspState;
  reason?: number;
}

export async function checkCompleteness(ctx: PhaseContext, o: CompletenessOptions): Promise<CompletenessResult> {
  const caps = ctx.ca.capabilities();
  // one per endpoint: a CRL that cannot be fetched must not stop the OCSP checks, nor the other way round
  const reachCrl = new Reach(o.requestTimeoutMs ?? 15_000, o.retryForMs ?? 30_000, ctx.signal);
  const reachOcsp = new Reach(o.requestTimeoutMs ?? 15_000, o.retryForMs ?? 30_000, ctx.signal);
  const notes: string[] = [];

  // What this run acknowledged, one per serial (the last reason given wins; a serial is revoked once).
  const expected = new Map<string, RevocationReason>();
  for (const a of o.acked) expected.set(normSerial(a.serial), a.reason);
  const control = [...new Set(o.control.map((c) => normSerial(c.serial)))].filter((s) => !expected.has(s));
  const failed = [...new Set(o.failedSerials.map(normSerial))].filter((s) => !expected.has(s));

  const provenance = provenanceOf(ctx);
  const crlByAdapter = provenance?.crl?.by === "adapter";
  const ocspByAdapter = provenance?.ocsp?.by === "adapter";
  const info: string[] = [];

  // ---- the final CRL, decoded into serial -> reason code (absent reasonCode: unspecified, RFC 5280 5.3.1)
  let crl: Map<string, number> | undefined;
  /** One fetch; undefined and a note (first pass only) when it cannot be had or is not the issuer's. */
  const fetchCrl = async (quiet: boolean): Promise<Map<string, number> | undefined> => {
    try {
      const der = await reachCrl.call(() => ctx.ca.crl());
      const parsed = parseCrl(der);
      // decoded in full and its signature checked: what the propagation polls take on trust rests on this
      if (o.issuerPem && !(crlOfIssuer(parsed.crl, new Certificate(pemToDer(o.issuerPem))) && (await crlSignedBy(der, o.issuerPem)))) {
        if (!quiet) notes.push(`the final CRL is not the issuing CA's (issuer ${parsed.issuer}, or its signature does not verify)`);
        return undefined;
      }
      const map = new Map<string, number>();
      for (const [serial, e] of parsed.entries) map.set(serial, e.reason ?? REASON_CODES.unspecified);
      return map;
    } catch (err) {
      if (!quiet) notes.push(`the final CRL could not be fetched or decoded (${reachCrl.gaveUp ? `the CA could not be reached: ${classifyError(err)}` : classifyError(err)})`);
      return undefined;
    }
  };
  if (!caps.crl) notes.push("the CA offers no CRL: checked over OCSP only");
  else crl = await fetchCrl(false);

  // ---- OCSP for every acknowledged, control and failed serial
  const ocspChecked = caps.ocsp && o.issuerPem !== undefined;
  const answers = new Map<string, OcspAnswer>();
  const asker = ocspChecked ? new OcspAsker(ctx, o.issuerPem!, reachOcsp, o.ocspBatch ?? 100) : undefined;
  const concurrency = o.concurrency ?? 16;
  if (asker) await asker.askAll([...expected.keys(), ...control, ...failed], concurrency, answers);

  // ---- settling: the serials not yet published are checked again (only those) until they are, or the deadline
  const unpublished = () => {
    const onCrl = crl ? [...expected.keys()].filter((s) => !crl!.has(s)) : [];
    // an answer that could not be had (a transient tryLater, a 5xx) is asked again too, unless the CA is gone
    const again = reachOcsp.gaveUp ? ["good", "unknown"] : ["good", "unknown", "error"];
    const onOcsp = asker ? [...expected.keys()].filter((s) => again.includes(answers.get(s)?.state ?? "error")) : [];
    return { onCrl, onOcsp, serials: new Set([...onCrl, ...onOcsp]).size };
  };
  const first = unpublished();
  if (first.serials > 0 && o.settleUntil !== undefined) {
    const every = o.recheckEveryMs ?? 1_000;
    const settleStart = performance.now();
    let pending = first;
    let last = settleStart;
    while (pending.serials > 0 && performance.now() < o.settleUntil && !ctx.signal?.aborted) {
      await sleep(Math.min(every - (performance.now() - last), o.settleUntil - performance.now()));
      last = performance.now();
      if (pending.onCrl.length > 0) crl = (await fetchCrl(true)) ?? crl;
      if (asker && pending.onOcsp.length > 0) {
        const again = new Map<string, OcspAnswer>();
        await asker.askAll(pending.onOcsp, concurrency, again);
        // an answer that could not be had this time leaves the last one standing
        for (const [s, a] of again) if (a.state !== "error") answers.set(s, a);
      }
      pending = unpublished();
    }
    const took = (performance.now() - settleStart) / 1000;
    info.push(
      `${first.serials} acknowledged revocation(s) not yet published at the first check (CRL ${first.onCrl.length}, OCSP ${first.onOcsp.length}): ` +
        `re-checked for ${took.toFixed(1)} s, ${first.serials - pending.serials} published since` +
        (pending.serials > 0 ? `, ${pending.serials} still not by the settle deadline` : ""),
    );
  }
  if (asker) {
    const all = [...expected.keys(), ...control, ...failed];
    const errors = all.filter((s) => answers.get(s)?.state === "error").length;
    if (errors > 0) notes.push(`${errors} OCSP answers could not be obtained${reachOcsp.gaveUp ? " (the CA could not be reached)" : ""}`);
    if (asker.badSignatures > 0) notes.push(`${asker.badSignatures} OCSP response(s) not signed by the issuing CA or a responder it delegated: their answers were not taken`);
  }
  if (ctx.signal?.aborted) notes.push("verification was interrupted");

  // ---- the verdicts
  const result: CompletenessResult = {
    checked: expected.size,
    lost: [],
    wrongReason: [],
    wronglyRevoked: [],
    controlChecked: 0,
    revokedDespiteError: 0,
    ocspChecked,
  };
  const ocspOf = (s: string): OcspAnswer => answers.get(s) ?? { state: "error" };
  /** Reason differences on an artefact the adapter makes, not held against the CA. */
  const excused = { crl: 0, ocsp: 0 };
  for (const [serial, reason] of expected) {
    const listed = crl?.get(serial);
    const answer = ocspOf(serial);
    const crlState = listed === undefined ? "missing" : "listed";
    const crlWrong = crl !== undefined && listed === undefined;
    // an OCSP answer that could not be obtained is unverified (the note counts it), not evidence of a loss
    const ocspWrong = ocspChecked && (answer.state === "good" || answer.state === "unknown");
    if (crlWrong || ocspWrong) result.lost.push({ serial, crl: crlState, ocsp: ocspChecked ? answer.state : "error" });
    const want = REASON_CODES[reason];
    const ocspReason = answer.state === "revoked" ? (answer.reason ?? REASON_CODES.unspecified) : undefined;
    const crlDiffers = listed !== undefined && listed !== want;
    const ocspDiffers = ocspReason !== undefined && ocspReason !== want;
    if (crlDiffers && crlByAdapter) excused.crl++;
    if (ocspDiffers && ocspByAdapter) excused.ocsp++;
    const heldCrl = crlDiffers && !crlByAdapter;
    const heldOcsp = ocspDiffers && !ocspByAdapter;
    if (heldCrl || heldOcsp) {
      result.wrongReason.push({
        serial,
        expected: reason,
        ...(listed !== undefined && !crlByAdapter ? { crl: reasonName(listed) } : {}),
        ...(ocspReason !== undefined && !ocspByAdapter ? { ocsp: reasonName(ocspReason) } : {}),
      });
    }
  }
  for (const [channel, by] of [
    ["CRL", crlByAdapter ? provenance?.crl : undefined],
    ["OCSP", ocspByAdapter ? provenance?.ocsp : undefined],
  ] as const) {
    if (!by) continue;
    const n = channel === "CRL" ? excused.crl : excused.ocsp;
    info.push(
      `the ${channel} is made by the adapter, not the CA${by.note ? ` (${oneLine(by.note)})` : ""}: its reasons are not held against the CA` +
        `${n ? ` (${n} differ from the reason given)` : ""}; a serial missing from it still counts as lost`,
    );
  }
  const revokedAnywhere = (s: string) => crl?.has(s) === true || ocspOf(s).state === "revoked";
  for (const s of control) {
    if (crl === undefined && (!ocspChecked || ocspOf(s).state === "error")) continue; // nothing could be checked for it
    result.controlChecked++;
    if (revokedAnywhere(s)) result.wronglyRevoked.push(s);
  }
  if (crl !== undefined) {
    for (const t of o.unsent ?? []) {
      const s = normSerial(t.serial);
      if (expected.has(s)) continue;
      result.controlChecked++;
      if (crl.has(s)) result.wronglyRevoked.push(s);
    }
  }
  for (const s of failed) if (revokedAnywhere(s)) result.revokedDespiteError++;
  if (notes.length > 0) result.note = notes.join("; ");
  if (info.length > 0) result.info = info;
  return result;
}

/** The adapter's provenance, if it declares one; a provenance() that throws declares nothing. */
function provenanceOf(ctx: PhaseContext): Provenance | undefined {
  try {
    return ctx.ca.provenance?.();
  } catch {
    return undefined;
  }
}

/** One line, bounded: a provenance note quoted in the summary. */
const oneLine = (s: string) => {
  const line = s.replace(/\s+/g, " ").trim();
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
};

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

function reasonName(code: number): string {
  return reasonForCode(code) ?? `code ${code}`;
}

/**
 * Calls to a CA that may be restarting: a request that times out or cannot
 * connect is retried with growing pauses until `retryForMs` has passed since
 * the CA was last reached; then the CA counts as unreachable for the rest of
 * the check (every later call fails at once), so a dead CA costs ~30 s, not
 * 30 s per request. A CA's refusal (4xx) is an answer, not retried.
 */
class Reach {
  gaveUp = false;
  private lastError: unknown;
  private failingSince?: number;

  constructor(
    private readonly timeoutMs: number,
    private readonly retryForMs: number,
    private readonly signal?: AbortSignal,
  ) {}

  async call<T>(f: () => Promise<T>): Promise<T> {
    let pause = 200;
    for (;;) {
      if (this.gaveUp) throw this.lastError;
      if (this.signal?.aborted) throw new Error("interrupted");
      try {
        const value = await withTimeout(f(), this.timeoutMs);
        this.failingSince = undefined;
        return value;
      } catch (err) {
        if (!transient(err)) throw err;
        this.lastError = err;
        const now = performance.now();
        this.failingSince ??= now;
        if (now - this.failingSince >= this.retryForMs) {
          this.gaveUp = true;
          throw err;
        }
        await new Promise((r) => setTimeout(r, Math.min(pause, this.retryForMs - (now - this.failingSince!) + 1)));
        pause = Math.min(pause * 2, 5_000);
      }
    }
  }
}

/** A failure worth retrying: no answer, a broken connection, a server error; not a refusal. */
function transient(err: unknown): boolean {
  if (err instanceof CaError) return err.status >= 500 || err.status === 408 || err.status === 429;
  const c = classifyError(err);
  return c === "timeout" || c === "reset" || c === "refused" || c.startsWith("5xx");
}


/** OCSP in batches of CertIDs; a CA that answers fewer CertIDs than asked (or refuses a batch) is asked one serial at a time from then on. */
class OcspAsker {
  /** Responses whose signature did not verify (their answers count as errors). */
  badSignatures = 0;
  private readonly signatures: OcspSignatureCheck;

  constructor(
    private readonly ctx: PhaseContext,
    private readonly issuerPem: string,
    private readonly reach: Reach,
    private batch: number,
  ) {
    this.batch = Math.max(1, Math.floor(batch));
    this.signatures = new OcspSignatureCheck(issuerPem);
  }

  async askAll(serials: string[], concurrency: number, into: Map<string, OcspAnswer>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < serials.length && !this.ctx.signal?.aborted) {
        const size = this.batch;
        const chunk = serials.slice(next, next + size);
        next += chunk.length;
        await this.ask(chunk, into);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.floor(concurrency)) }, worker));
  }

  private async ask(chunk: string[], into: Map<string, OcspAnswer>): Promise<void> {
    let singles: Map<string, SingleStatus> | undefined;
    let refused = false;
    try {
      const der = await this.reach.call(() => this.ctx.ca.ocsp(buildOcspRequest(this.issuerPem, chunk), "POST"));
      const info = parseOcspResponse(der);
      if (info.responseStatus === 0 && !(await this.signatures.verified(info))) {
        // not the CA's word: every serial asked is an error (incomplete), never "revoked"
        this.badSignatures++;
        for (const s of chunk) into.set(s, { state: "error" });
        return;
      }
      if (info.responseStatus === 0) {
        singles = new Map();
        for (const s of info.responses) if (certIdNames(s.certId, this.issuerPem, s.serial)) singles.set(s.serial, s);
      } else refused = true;
    } catch {
      refused = true;
    }
    const missing = chunk.filter((s) => !singles?.has(s));
    for (const s of chunk) {
      const single = singles?.get(s);
      if (single) into.set(s, single.status === "revoked" ? { state: "revoked", reason: single.reason } : { state: single.status });
    }
    if (missing.length === 0) return;
    if (chunk.length > 1 && !this.reach.gaveUp) {
      this.batch = nextOcspBatch(this.batch, chunk.length, { refused, answered: chunk.length - missing.length });
      if (refused) {
        // halve this chunk too, and halve again if need be
        const half = Math.ceil(chunk.length / 2);
        await this.ask(chunk.slice(0, half), into);
        await this.ask(chunk.slice(half), into);
        return;
      }
      for (const s of missing) await this.ask([s], into); // one per request from now on
      return;
    }
    for (const s of missing) into.set(s, { state: "error" });
  }
}
