import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SystemClock, type Clock } from "../../core/index.js";
import {
  CaError,
  type CaAdapter,
  type CaCapabilities,
  type CaIdentity,
  type CertificateStatus,
  type Holder,
  type IssueRequest,
  type IssuedCertificate,
  type Profile,
  type Provenance,
  type RenewRequest,
  type RevocationReason,
  type RevocationResult,
  type RevokeRequest,
} from "../../simulator/ca/index.js";
import { pemToDer } from "../../pki/index.js";
import { certInfo, normSerial, ocspRequestSerials } from "../pkix.js";
import { MALFORMED_REQUEST, ocspOverHttp, startLoopbackServer, type LoopbackServer } from "./loopback-http.js";
import { lastLines, run, runOk, SerialQueue } from "./process.js";
import { CRL_ENTRY_DOCTORING, doctorIndex, formatIndex, OPENSSL_REASONS, opensslTime, parseIndex, parseOpensslTime, REASON_FROM_INDEX, UNKNOWN_TO_OPENSSL, type CrlEntryDoctoring, type IndexDoctoring, type IndexRow } from "./openssl-index.js";
import { opensslProvenance } from "./openssl-provenance.js";

/** Extension lines of a profile section; null removes a default line (SKI/AKI become "none"). */
export type ExtensionOverrides = Record<string, string | null>;

export interface OpensslOptions {
  clock?: Clock;
  /** Certificate validity in days (default 1095, the policy's 3 years). */
  validityDays?: number;
  /** Cap notAfter at the card's expiry with -enddate (default true). */
  honourCardExpiry?: boolean;
  /** Post-dates notBefore by this many seconds (a misconfiguration to test against). */
  notBeforeOffsetSeconds?: number;
  /** Random 159-bit serials (default) or a counter starting at this hex value. */
  sequentialSerialFrom?: string;
  profiles?: Partial<Record<Profile, ExtensionOverrides>>;
  crl?: {
    /** "on-request": a fresh CRL for every fetch (default); "never": the CRL made at start forever. */
    regenerate?: "on-request" | "never";
    /** nextUpdate - thisUpdate, seconds (default 86400). */
    validitySeconds?: number;
    /** Dates CRLs two days back, expiring one day back (a CRL publisher that stopped long ago). */
    stale?: boolean;
    /** "increasing" (default), "absent" (no crlnumber file) or "reset" (the counter restarts every time). */
    number?: "increasing" | "absent" | "reset";
    /** Put the CA's authorityKeyIdentifier on CRLs (default true). */
    aki?: boolean;
    /** What the CRL is generated from: the live index (default) or a doctored copy. */
    entries?: CrlEntryDoctoring;
  };
  ocsp?: {
    /** Who signs responses: a delegated responder certificate (default), the CA itself, or an unrelated key. */
    signer?: "delegated" | "ca" | "rogue";
    /** What the responder answers from: the live index (default) or a doctored copy. */
    index?: IndexDoctoring;
    validityMinutes?: number;
  };
}

const DEFAULT_PROFILES: Record<Profile, ExtensionOverrides> = {
  authentication: {
    basicConstraints: "critical,CA:FALSE",
    keyUsage: "critical,digitalSignature",
    extendedKeyUsage: "clientAuth",
    subjectKeyIdentifier: "hash",
    authorityKeyIdentifier: "keyid:always",
  },
  signature: {
    basicConstraints: "critical,CA:FALSE",
    keyUsage: "critical,digitalSignature,nonRepudiation",
    subjectKeyIdentifier: "hash",
    authorityKeyIdentifier: "keyid:always",
  },
};

/**
 * OpenSSL 3 as a CA: `openssl ca` with an index database and a generated
 * config, `-gencrl` for CRLs and `openssl ocsp -index` answering each request
 * behind a loopback HTTP server (the built-in responder would listen on every
 * interface). Everything lives in a temporary directory removed on close.
 */
export class OpensslCa implements CaAdapter {
  readonly name = "openssl";
  private readonly queue = new SerialQueue();
  private readonly meta = new Map<string, { profile: Profile; holder: Holder }>();
  private server?: LoopbackServer;
  private crlGenerated = false;
  private counter = 0;
  /** `openssl version`, as the binary said it at start. */
  private version = "";

  private constructor(
    readonly dir: string,
    private readonly opts: OpensslOptions,
    private readonly clock: Clock,
  ) {}

  static async create(opts: OpensslOptions = {}): Promise<OpensslCa> {
    const dir = mkdtempSync(join(tmpdir(), "cardloop-openssl-"));
    const ca = new OpensslCa(dir, opts, opts.clock ?? new SystemClock());
    try {
      await ca.start();
    } catch (err) {
      await ca.close();
      throw err;
    }
    return ca;
  }

  private p(name: string): string {
    return join(this.dir, name);
  }

  private async start(): Promise<void> {
    const version = await run("openssl", ["version"]).catch(() => undefined);
    if (!version || version.code !== 0 || !/^OpenSSL 3\./.test(version.stdout)) {
      throw new Error(`OpenSSL 3 is required (found: ${version?.stdout.trim() || "no openssl on PATH"})`);
    }
    this.version = version.stdout.trim();
    mkdirSync(this.p("newcerts"));
    writeFileSync(this.p("index.txt"), "");
    writeFileSync(this.p("index.txt.attr"), "unique_subject = no\n");
    if (this.opts.sequentialSerialFrom) writeFileSync(this.p("serial"), this.opts.sequentialSerialFrom + "\n");
    if ((this.opts.crl?.number ?? "increasing") !== "absent") writeFileSync(this.p("crlnumber"), "1000\n");

    this.server = await startLoopbackServer({
      ocsp: (der) => this.answerOcsp(der),
      crl: () => this.crl(),
    });
    writeFileSync(this.p("ca.cnf"), this.config());

    await runOk("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", this.p("ca-key.pem"), "-out", this.p("ca.pem"), "-subj", "/O=cardloop/CN=cardloop OpenSSL test CA",
      "-days", "3650", "-config", this.p("ca.cnf"), "-extensions", "ca_ext",
    ]);
    await this.makeResponder();
    await this.generateCrl(); // a deployment publishes a CRL from the start
  }

  private async makeResponder(): Promise<void> {
    const signer = this.opts.ocsp?.signer ?? "delegated";
    if (signer === "ca") return;
    await runOk("openssl", [
      "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", this.p("ocsp-key.pem"), "-out", this.p("ocsp.csr"), "-subj", "/O=cardloop/CN=OCSP responder",
    ]);
    if (signer === "delegated") {
      const r = await runOk("openssl", [
        "ca", "-batch", "-config", this.p("ca.cnf"), "-extensions", "ocsp_ext", "-days", "30", "-notext",
        "-in", this.p("ocsp.csr"), "-out", this.p("ocsp.pem"),
      ]);
      if (!existsSync(this.p("ocsp.pem"))) throw new Error(`openssl ca wrote no responder certificate: ${lastLines(r.stderr)}`);
    } else {
      // rogue: a responder certificate nobody in this hierarchy issued
      await runOk("openssl", [
        "x509", "-req", "-in", this.p("ocsp.csr"), "-key", this.p("ocsp-key.pem"), "-days", "30",
        "-extfile", this.p("ca.cnf"), "-extensions", "ocsp_ext_self", "-out", this.p("ocsp.pem"),
      ]);
    }
  }

  private config(): string {
    const base = this.server!.url;
    const profileSection = (profile: Profile) => {
      const merged: ExtensionOverrides = {
        ...DEFAULT_PROFILES[profile],
        authorityInfoAccess: `OCSP;URI:${base}/ocsp`,
        crlDistributionPoints: `URI:${base}/crl`,
        ...(this.opts.profiles?.[profile] ?? {}),
      };
      const lines: string[] = [];
      for (const [k, v] of Object.entries(merged)) {
        if (v !== null) lines.push(`${k} = ${v}`);
        // OpenSSL 3 adds SKI/AKI unless told "none"
        else if (k === "subjectKeyIdentifier" || k === "authorityKeyIdentifier") lines.push(`${k} = none`);
      }
      return `[${profile}]\n${lines.join("\n")}\n`;
    };
    const crlNumber = (this.opts.crl?.number ?? "increasing") !== "absent" ? `crlnumber = $dir/crlnumber\n` : "";
    const caSection = (name: string, database: string) => `[${name}]
dir = ${this.dir}
database = ${database}
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca-key.pem
${this.opts.sequentialSerialFrom ? "serial = $dir/serial" : "rand_serial = yes"}
${crlNumber}${this.opts.crl?.aki === false ? "" : "crl_extensions = crl_ext\n"}default_md = sha256
default_days = ${this.opts.validityDays ?? 1095}
default_crl_days = 1
policy = policy_any
unique_subject = no
copy_extensions = none
preserve = no
`;
    return `[ca]
default_ca = CA_default
${caSection("CA_default", "$dir/index.txt")}
${caSection("CA_crl", "$dir/index-crl.txt")}
[policy_any]
commonName = supplied
organizationName = optional
[req]
distinguished_name = req_dn
[req_dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[crl_ext]
authorityKeyIdentifier = keyid:always
[ocsp_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ocsp_ext_self]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
${profileSection("authentication")}
${profileSection("signature")}
`;
  }

  capabilities(): CaCapabilities {
    return {
      renew: true,
      hold: false,
      authorisation: false,
      cancellationCodes: false,
      cardExpiryCap: true,
      crl: true,
      ocsp: true,
      ocspGet: true,
      bulkRevoke: false,
      virtualClock: false,
      // `openssl ca -crl_reason` cannot record them: revoke() refuses them (unsupported-reason).
      unrecordedReasons: UNKNOWN_TO_OPENSSL,
    };
  }

  async identity(): Promise<CaIdentity> {
    return { software: "OpenSSL", version: this.version };
  }

  /** What openssl makes, and what this adapter makes for it (openssl-provenance.ts). */
  provenance(): Provenance {
    return opensslProvenance(this.opts);
  }

  issue(req: IssueRequest): Promise<IssuedCertificate> {
    return this.queue.push(() => this.issueNow(req.csrPem, req.profile, req.holder, req.cardExpiry));
  }

  private async issueNow(csrPem: string, profile: Profile, holder: Holder, cardExpiry?: Date): Promise<IssuedCertificate> {
    if (profile !== "authentication" && profile !== "signature") throw new CaError(400, "bad-profile", `unknown profile ${profile}`);
    const n = ++this.counter;
    const csrFile = this.p(`req-${n}.csr`);
    const outFile = this.p(`out-${n}.pem`);
    writeFileSync(csrFile, csrPem);
    const args = ["ca", "-batch", "-config", this.p("ca.cnf"), "-extensions", profile, "-notext", "-in", csrFile, "-out", outFile];
    const now = this.clock.now();
    const offset = this.opts.notBeforeOffsetSeconds ?? 0;
    if (offset) args.push("-startdate", opensslTime(new Date(now.getTime() + offset * 1000)));
    const defaultEnd = new Date(now.getTime() + (this.opts.validityDays ?? 1095) * 86400_000);
    if ((this.opts.honourCardExpiry ?? true) && cardExpiry && cardExpiry < defaultEnd) {
      args.push("-enddate", opensslTime(cardExpiry));
    }
    const r = await run("openssl", args);
    // `openssl ca` can exit 0 without certifying anything: the output file is the truth.
    const written = existsSync(outFile) && statSync(outFile).size > 0;
    rmSync(csrFile, { force: true });
    if (r.code !== 0 || !written) {
      rmSync(outFile, { force: true });
      const why = lastLines(r.stderr, 2) || "nothing on stderr";
      if (/signature did not match|signature verify|bad signature/i.test(r.stderr)) throw new CaError(400, "bad-csr-signature", `openssl ca refused the request: ${why}`);
      if (r.code !== 0) throw new CaError(400, "refused", `openssl ca refused the request: ${why}`);
      // Exit 0 and no certificate is no stated refusal: a 500, so that no check counts it as the CA saying no.
      throw new CaError(500, "no-certificate", `openssl ca exited 0 but wrote no certificate: ${why}`);
    }
    const pem = readFileSync(outFile, "utf8");
    rmSync(outFile, { force: true });
    const info = certInfo(pem);
    this.meta.set(info.serial, { profile, holder });
    return {
      serial: info.serial,
      certificatePem: pem,
      chainPem: [readFileSync(this.p("ca.pem"), "utf8")],
      notBefore: info.notBefore,
      notAfter: info.notAfter,
    };
  }

  renew(serial: string, req: RenewRequest): Promise<IssuedCertificate> {
    return this.queue.push(async () => {
      const s = normSerial(serial);
      const meta = this.meta.get(s);
      const row = this.row(s);
      if (!meta || !row) throw new CaError(404, "unknown-serial", `no certificate ${s}`);
      if (row.status === "R") throw new CaError(409, "revoked", `certificate ${s} is revoked`);
      const issued = await this.issueNow(req.csrPem, meta.profile, meta.holder, req.cardExpiry);
      // OpenSSL has no renewal: the adapter supersedes the old certificate as the policy asks.
      await this.revokeNow(s, "superseded");
      return issued;
    });
  }

  revoke(req: RevokeRequest): Promise<RevocationResult> {
    return this.queue.push(() => this.revokeNow(normSerial(req.serial), req.reason));
  }

  private async revokeNow(serial: string, reason: RevocationReason): Promise<RevocationResult> {
    const row = this.row(serial);
    if (!row) throw new CaError(404, "unknown-serial", `no certificate ${serial}`);
    const name = OPENSSL_REASONS[reason];
    if (!name) throw new CaError(400, "unsupported-reason", `openssl ca cannot record reason ${reason}`);
    const certFile = join(this.dir, "newcerts", `${row.serialCol}.pem`);
    const r = await run("openssl", ["ca", "-config", this.p("ca.cnf"), "-revoke", certFile, "-crl_reason", name]);
    if (/Already revoked/i.test(r.stderr)) throw new CaError(409, "already-revoked", `certificate ${serial} is already revoked`);
    if (r.code !== 0) throw new CaError(500, "openssl", `openssl ca -revoke failed: ${lastLines(r.stderr, 2)}`);
    const after = this.row(serial);
    if (!after || after.status !== "R") throw new CaError(500, "openssl", "openssl ca -revoke did not record the revocation");
    return { serial, status: "revoked", reason, revokedAt: parseOpensslTime(after.revoked.split(",")[0]) };
  }

  async release(serial: string): Promise<void> {
    throw new CaError(400, "not-offered", `openssl ca cannot release ${serial} from hold`);
  }

  private rows(): IndexRow[] {
    return parseIndex(readFileSync(this.p("index.txt"), "utf8"));
  }

  private row(serial: string): IndexRow | undefined {
    const s = normSerial(serial);
    return this.rows().find((r) => normSerial(r.serialCol) === s);
  }

  async status(serial: string): Promise<CertificateStatus> {
    const s = normSerial(serial);
    const row = this.row(s);
    if (!row) return { serial: s, status: "unknown" };
    const notAfter = parseOpensslTime(row.expiry);
    if (row.status !== "R") return { serial: s, status: "good", notAfter };
    const [when, why] = row.revoked.split(",");
    return {
      serial: s,
      status: "revoked",
      revokedAt: parseOpensslTime(when),
      reason: why ? REASON_FROM_INDEX[why.toLowerCase()] ?? "unspecified" : undefined,
      notAfter,
    };
  }

  crl(): Promise<Uint8Array> {
    return this.queue.push(async () => {
      const mode = this.opts.crl?.regenerate ?? "on-request";
      if (!this.crlGenerated || mode === "on-request") await this.generateCrl();
      return pemToDer(readFileSync(this.p("crl.pem"), "utf8"));
    });
  }

  private async generateCrl(): Promise<void> {
    const entries = this.opts.crl?.entries ?? "faithful";
    let section = "CA_default";
    if (CRL_ENTRY_DOCTORING[entries]) {
      writeFileSync(this.p("index-crl.txt"), formatIndex(doctorIndex(this.rows(), entries, { stamp: opensslTime(this.clock.now()) })));
      section = "CA_crl";
    }
    if (this.opts.crl?.number === "reset") writeFileSync(this.p("crlnumber"), "1000\n");
    const times = this.opts.crl?.stale
      ? ["-crl_lastupdate", opensslTime(new Date(this.clock.nowMs() - 2 * 86400_000)), "-crl_nextupdate", opensslTime(new Date(this.clock.nowMs() - 86400_000))]
      : ["-crlsec", String(this.opts.crl?.validitySeconds ?? 86400)];
    const r = await run("openssl", ["ca", "-config", this.p("ca.cnf"), "-name", section, "-gencrl", ...times, "-out", this.p("crl.pem")]);
    if (r.code !== 0 || !existsSync(this.p("crl.pem"))) throw new CaError(500, "openssl", `openssl ca -gencrl failed: ${lastLines(r.stderr, 2)}`);
    this.crlGenerated = true;
  }

  /** One OCSP request answered by `openssl ocsp -index -reqin -respout`. */
  private answerOcsp(der: Uint8Array): Promise<Uint8Array> {
    return this.queue.push(async () => {
      const n = ++this.counter;
      const reqFile = this.p(`ocsp-${n}.req`);
      const respFile = this.p(`ocsp-${n}.resp`);
      writeFileSync(reqFile, der);
      const index = this.ocspIndex(der);
      const signer = this.opts.ocsp?.signer ?? "delegated";
      const [cert, key] = signer === "ca" ? ["ca.pem", "ca-key.pem"] : ["ocsp.pem", "ocsp-key.pem"];
      const r = await run("openssl", [
        "ocsp", "-index", index, "-CA", this.p("ca.pem"), "-rsigner", this.p(cert), "-rkey", this.p(key),
        "-reqin", reqFile, "-respout", respFile, "-nmin", String(this.opts.ocsp?.validityMinutes ?? 60),
      ]);
      try {
        if (existsSync(respFile) && statSync(respFile).size > 0) return new Uint8Array(readFileSync(respFile));
        // A request openssl cannot parse: answer as its own `-port` responder does.
        if (/parsing OCSP request|Error reading OCSP request|asn1|decod/i.test(r.stderr)) return MALFORMED_REQUEST;
        throw new Error(`openssl ocsp failed: ${lastLines(r.stderr, 2)}`);
      } finally {
        rmSync(reqFile, { force: true });
        rmSync(respFile, { force: true });
      }
    });
  }

  private ocspIndex(der: Uint8Array): string {
    const mode = this.opts.ocsp?.index ?? "live";
    if (mode === "live") return this.p("index.txt");
    writeFileSync(this.p("index-ocsp.txt"), formatIndex(doctorIndex(this.rows(), mode, { asked: () => ocspRequestSerials(der) })));
    writeFileSync(this.p("index-ocsp.txt.attr"), "unique_subject = no\n");
    return this.p("index-ocsp.txt");
  }

  ocsp(request: Uint8Array, method: "POST" | "GET" = "POST"): Promise<Uint8Array> {
    return ocspOverHttp(`${this.server!.url}/ocsp`, request, method);
  }

  async anchors(): Promise<string[]> {
    return [readFileSync(this.p("ca.pem"), "utf8")];
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
