import {
  CaError,
  type BulkRevocationResult,
  type CaAdapter,
  type CaCapabilities,
  type CaCredentials,
  type CaIdentity,
  type CertificateStatus,
  type IssueRequest,
  type IssuedCertificate,
  type Provenance,
  type RenewalChallenge,
  type RenewRequest,
  type RevocationReason,
  type RevocationResult,
  type RevokeRequest,
} from "../../simulator/ca/index.js";

/** The operations a refusal can be put in front of, with what each is asked. */
export interface RefusableOps {
  issue: IssueRequest;
  renew: { serial: string; req: RenewRequest };
  renewalChallenge: { serial: string };
  revoke: RevokeRequest;
  release: { serial: string; operatorToken?: string };
  ocsp: { request: Uint8Array; method: "POST" | "GET" };
}

export interface Refusal<K extends keyof RefusableOps = keyof RefusableOps> {
  op: K;
  /** Which requests are refused (all of `op` when absent). */
  when?: (arg: RefusableOps[K]) => boolean;
  status: number;
  reason: string;
  message: string;
}

/** A refusal of any one operation, its `when` typed by that operation's request. */
export type AnyRefusal = { [K in keyof RefusableOps]: Refusal<K> }[keyof RefusableOps];

/**
 * Wraps any adapter and refuses chosen requests with a chosen status and
 * reason before the CA sees them: a CA that says no for another reason than
 * the one a check is about (answers missing, a body too large, a role it does
 * not know). Wrapped around a CA that does the wrong thing (`FaultyCa`), it
 * shows that a check passes only for its own reason: the wrong CA hidden
 * behind an unrelated refusal must not be given a pass.
 */
export class RefusingCa implements CaAdapter {
  readonly name: string;
  constructor(
    private readonly inner: CaAdapter,
    private readonly refusals: AnyRefusal[],
  ) {
    this.name = `${inner.name} (refusing ${refusals.map((r) => `${r.op} ${r.status}`).join(", ")})`;
    if (inner.renewalChallenge) this.renewalChallenge = (serial) => this.gate("renewalChallenge", { serial }, () => inner.renewalChallenge!(serial));
    if (inner.issueMany) this.issueMany = (reqs) => this.issueManyGated(inner.issueMany!.bind(inner), reqs);
    if (inner.revokeMany) this.revokeMany = (serials, reason, token) => inner.revokeMany!(serials, reason, token);
    if (inner.authorityCrls) this.authorityCrls = () => inner.authorityCrls!();
    if (inner.credentials) this.credentials = () => inner.credentials!();
    if (inner.identity) this.identity = () => inner.identity!();
    if (inner.provenance) this.provenance = () => inner.provenance!();
  }

  issueMany?: (reqs: IssueRequest[]) => Promise<Array<IssuedCertificate | CaError>>;
  renewalChallenge?: (serial: string) => Promise<RenewalChallenge>;
  revokeMany?: (serials: string[], reason: RevocationReason, operatorToken: string) => Promise<BulkRevocationResult>;
  authorityCrls?: () => Promise<Uint8Array[]>;
  credentials?: () => CaCredentials;
  identity?: () => Promise<CaIdentity>;
  provenance?: () => Provenance;

  /** The refusal `arg` meets as a request of `op` (the first listed that applies), or undefined when it goes through. */
  private refusal<K extends keyof RefusableOps>(op: K, arg: RefusableOps[K]): CaError | undefined {
    const r = this.refusals.find((x) => x.op === op && (!x.when || (x.when as (a: RefusableOps[K]) => boolean)(arg)));
    return r && new CaError(r.status, r.reason, r.message);
  }

  private async gate<K extends keyof RefusableOps, T>(op: K, arg: RefusableOps[K], go: () => Promise<T>): Promise<T> {
    const refused = this.refusal(op, arg);
    if (refused) throw refused;
    return go();
  }

  /** The "issue" refusals applied to each request: refused ones answered here, in their place; the rest go to the inner CA in one call. */
  private async issueManyGated(many: (reqs: IssueRequest[]) => Promise<Array<IssuedCertificate | CaError>>, reqs: IssueRequest[]): Promise<Array<IssuedCertificate | CaError>> {
    const out = new Array<IssuedCertificate | CaError>(reqs.length);
    const passed: number[] = [];
    reqs.forEach((req, i) => {
      const refused = this.refusal("issue", req);
      if (refused) out[i] = refused;
      else passed.push(i);
    });
    if (passed.length > 0) {
      const answered = await many(passed.map((i) => reqs[i]));
      passed.forEach((i, k) => (out[i] = answered[k]));
    }
    return out;
  }

  capabilities(): CaCapabilities {
    return this.inner.capabilities();
  }
  issue(req: IssueRequest): Promise<IssuedCertificate> {
    return this.gate("issue", req, () => this.inner.issue(req));
  }
  renew(serial: string, req: RenewRequest): Promise<IssuedCertificate> {
    return this.gate("renew", { serial, req }, () => this.inner.renew(serial, req));
  }
  revoke(req: RevokeRequest): Promise<RevocationResult> {
    return this.gate("revoke", req, () => this.inner.revoke(req));
  }
  release(serial: string, operatorToken?: string): Promise<void> {
    return this.gate("release", { serial, operatorToken }, () => this.inner.release(serial, operatorToken));
  }
  status(serial: string): Promise<CertificateStatus> {
    return this.inner.status(serial);
  }
  crl(): Promise<Uint8Array> {
    return this.inner.crl();
  }
  ocsp(request: Uint8Array, method: "POST" | "GET" = "POST"): Promise<Uint8Array> {
    return this.gate("ocsp", { request, method }, () => this.inner.ocsp(request, method));
  }
  anchors(): Promise<string[]> {
    return this.inner.anchors();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
