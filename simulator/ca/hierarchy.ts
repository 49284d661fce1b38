import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Clock, Random } from "../../core/index.js";
import { addYears, generateEcKeyPair, isDeterministic, makeDirs, seededEcKeyPair, seededRsaKeyPair } from "../../core/index.js";
import { buildCertificate, Certificate, encodeName, encodePem, ext, keyIdentifier, KU, OID, pemToDer, softwareSigningKey, type SigningKey } from "../../pki/index.js";
import { deterministicSigningKey } from "./deterministic-signer.js";
import { SoftHsmSigner } from "./softhsm.js";

/**
 * The CA's two-level hierarchy (root -> issuing CA) plus the delegated OCSP
 * responder. Created on first start, read back from the data directory after.
 * Private keys are PKCS#8 PEM files with mode 0600 (or, for the issuing key,
 * inside SoftHSM); a memory-only CA keeps them in memory. The root's CRL
 * covers the issuing CA; the responder (ocsp-nocheck) needs no status.
 *
 * `deterministic` with a seeded Random (a seeded run) makes the CA
 * reproducible: new keys come from its stream (core/keygen.ts) and EC keys
 * sign with RFC 6979 on this thread (deterministic-signer.ts). SoftHSM draws
 * its own keys and k: such a CA with an HSM-held issuing key says so
 * (`deterministic: false`).
 */

export type KeyType = "ec" | "rsa";

export interface HsmConfig {
  label?: string;
  library?: string;
}

export interface HierarchyOptions {
  dataDir?: string;
  keyType: KeyType;
  hsm?: HsmConfig;
  clock: Clock;
  random: Random;
  /** Keys from `random` and EC signatures by RFC 6979 (EmbeddedCaOptions.deterministic). */
  deterministic?: boolean;
  /** Prefix of the CA names (CN=<name> Root CA, ...). */
  name: string;
  /**
   * Where the root's CRL (the ARL) is published, written into the issuing CA
   * certificate's CRL distribution point. Asked when that certificate is first
   * needed, not at open: a served CA knows its URL only once it listens.
   */
  authorityCrlUrl?: () => string | undefined;
}

export interface CaIdentity {
  /** pki's SigningKey: one signing path for certificates, CRLs and OCSP, whether the key is a file (softwareSigningKey) or in SoftHSM. */
  signer: SigningKey;
  certificate: Uint8Array;
  name: Uint8Array;
  keyId: Uint8Array;
  notAfter: number;
  /**
   * The private key when it is a file's (not in SoftHSM): the CRL worker
   * thread (crl-worker.ts) and, for the responder, libuv's thread pool
   * (ocsp-responder.ts) sign with it, as the signer would on this thread.
   */
  privateKey?: KeyObject;
}

export interface CaHierarchy {
  keyType: KeyType;
  hsm: boolean;
  /**
   * Whether one seed gives this CA's same keys and signature bytes: asked
   * for (`deterministic`), a seeded Random, and no key in SoftHSM (whose key
   * generation and ECDSA k are its own).
   */
  deterministic: boolean;
  root: CaIdentity;
  issuing: CaIdentity;
  responder: CaIdentity;
  /** Replaces the responder certificate (before it expires at the CA's clock). */
  renewResponder(): void;
  close(): void;
}

interface CaJson {
  keyType: KeyType;
  hsm: boolean;
  /** Token label of the HSM-held issuing key (found by label on every start). */
  hsmLabel?: string;
  name: string;
}

const DAY = 86_400_000;

export function openHierarchy(opts: HierarchyOptions): CaHierarchy {
  const dir = opts.dataDir;
  const files = dir ? join(dir, "keys") : undefined;
  if (files) makeDirs(files, 0o700);
  let meta: CaJson = { keyType: opts.keyType, hsm: opts.hsm !== undefined, name: opts.name };
  if (opts.hsm) meta.hsmLabel = opts.hsm.label ?? "cardloop-ca";
  const metaPath = dir ? join(dir, "ca.json") : undefined;
  const existing = metaPath !== undefined && existsSync(metaPath);
  if (existing) meta = JSON.parse(readFileSync(metaPath!, "utf8")) as CaJson;

  // Asked for and possible: a seed decides the Random's stream. With the CSPRNG, `deterministic` changes nothing.
  const keysFromRandom = opts.deterministic === true && isDeterministic(opts.random);
  const newKey = (): KeyObject => {
    if (keysFromRandom) return meta.keyType === "ec" ? seededEcKeyPair("P-256", opts.random).privateKey : seededRsaKeyPair(opts.random).privateKey;
    return meta.keyType === "ec"
      ? generateEcKeyPair("P-256").privateKey // exported just below: no KeyGenJob (core/keygen.ts)
      : generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  };
  // Asked for, EC: RFC 6979 on this thread, and no KeyObject handed to the thread pool or the CRL worker (node's k is random).
  const rfc6979 = keysFromRandom && meta.keyType === "ec";
  const signerOf = (key: KeyObject): SigningKey => (rfc6979 ? deterministicSigningKey(key) : softwareSigningKey(key));

  const keyFile = (label: string): KeyObject => {
    if (!files) return newKey();
    const p = join(files, `${label}.key.pem`);
    if (existsSync(p)) return createPrivateKey(readFileSync(p, "utf8"));
    const k = newKey();
    writeFileSync(p, k.export({ format: "pem", type: "pkcs8" }) as string, { mode: 0o600 });
    return k;
  };
  const certFile = (label: string) => (files ? join(files, `${label}.crt.pem`) : undefined);

  const now = opts.clock.nowMs();
  const serial = () => {
    const b = opts.random.bytes(16);
    b[0] = (b[0] & 0x7f) | 0x40;
    return b;
  };

  const identity = (label: string, signer: SigningKey, build: () => Uint8Array): CaIdentity => {
    const p = certFile(label);
    let der: Uint8Array;
    if (p && existsSync(p)) der = pemToDer(readFileSync(p, "utf8"), "CERTIFICATE");
    else {
      der = build();
      if (p) writeFileSync(p, encodePem(der, "CERTIFICATE"));
    }
    const cert = new Certificate(der);
    return { signer, certificate: der, name: cert.subjectDer, keyId: keyIdentifier(cert.spki), notAfter: cert.notAfter };
  };

  /**
   * An identity whose certificate is built (and saved) on first use, for a
   * certificate that carries a URL only known later. Name and key are known
   * now, so everything it signs (CRLs, OCSP responder, leaves) works at once.
   */
  const lazyIdentity = (label: string, signer: SigningKey, name: Uint8Array, build: () => Uint8Array): CaIdentity => {
    const p = certFile(label);
    if (p && existsSync(p)) return identity(label, signer, build);
    let der: Uint8Array | undefined;
    const certificate = (): Uint8Array => {
      if (!der) {
        der = build();
        if (p) writeFileSync(p, encodePem(der, "CERTIFICATE"));
      }
      return der;
    };
    return {
      signer,
      name,
      keyId: keyIdentifier(signer.spki),
      get certificate() {
        return certificate();
      },
      get notAfter() {
        return notAfterOf(certificate());
      },
    };
  };

  const rootSigner = signerOf(keyFile("root"));
  const rootName = encodeName([[OID.commonName, `${meta.name} Root CA`], [OID.organization, meta.name]]);
  const rootKeyId = keyIdentifier(rootSigner.spki);
  const root = identity("root", rootSigner, () =>
    buildCertificate(
      {
        serial: serial(),
        issuer: rootName,
        subject: rootName,
        notBefore: now - DAY,
        notAfter: addYears(new Date(now), 25).getTime(),
        spki: rootSigner.spki,
        extensions: [ext.basicConstraints(true), ext.keyUsage([KU.keyCertSign, KU.cRLSign]), ext.subjectKeyIdentifier(rootKeyId)],
      },
      rootSigner,
    ),
  );

  let hsmSigner: SoftHsmSigner | undefined;
  let issuingSigner: SigningKey;
  let issuingKey: KeyObject | undefined;
  if (meta.hsm) {
    if (!dir) throw new Error("an HSM-backed issuing key needs a data directory (for the private token directory)");
    if (meta.keyType !== "ec") throw new Error("the SoftHSM issuing key is ECDSA P-256 only");
    hsmSigner = SoftHsmSigner.open({ dir: join(dir, "softhsm"), label: meta.hsmLabel ?? opts.hsm?.label, library: opts.hsm?.library, random: opts.random });
    issuingSigner = hsmSigner;
  } else {
    issuingKey = keyFile("issuing");
    issuingSigner = signerOf(issuingKey);
  }
  const issuingName = encodeName([[OID.commonName, `${meta.name} Issuing CA`], [OID.organization, meta.name]]);
  const issuingKeyId = keyIdentifier(issuingSigner.spki);
  // Drawn now, not when the certificate is built: the Random's sequence (and so
  // every later serial of a seeded CA) does not depend on when that happens.
  const issuingFile = certFile("issuing");
  const issuingSerial = issuingFile && existsSync(issuingFile) ? undefined : serial();
  const issuing: CaIdentity = lazyIdentity("issuing", issuingSigner, issuingName, () => {
    const arl = opts.authorityCrlUrl?.();
    return buildCertificate(
      {
        serial: issuingSerial ?? serial(),
        issuer: root.name,
        subject: issuingName,
        notBefore: now - DAY,
        notAfter: addYears(new Date(now), 15).getTime(),
        spki: issuingSigner.spki,
        extensions: [
          ext.basicConstraints(true, 0),
          ext.keyUsage([KU.digitalSignature, KU.keyCertSign, KU.cRLSign]),
          ext.subjectKeyIdentifier(issuingKeyId),
          ext.authorityKeyIdentifier(root.keyId),
          // The root's CRL covers this certificate: relying parties find it here.
          ...(arl ? [ext.crlDistributionPoint(arl)] : []),
        ],
      },
      rootSigner,
    );
  });
  if (issuingKey && !rfc6979) issuing.privateKey = issuingKey;

  const responderKey = keyFile("ocsp");
  const responderSigner = signerOf(responderKey);
  const responderName = encodeName([[OID.commonName, `${meta.name} OCSP Responder`], [OID.organization, meta.name]]);
  const buildResponder = (at: number) =>
    buildCertificate(
      {
        serial: serial(),
        issuer: issuing.name,
        subject: responderName,
        notBefore: at - DAY,
        notAfter: addYears(new Date(at), 1).getTime(),
        spki: responderSigner.spki,
        extensions: [
          ext.keyUsage([KU.digitalSignature]),
          ext.extKeyUsage([OID.kpOcspSigning]),
          ext.ocspNoCheck(),
          ext.subjectKeyIdentifier(keyIdentifier(responderSigner.spki)),
          ext.authorityKeyIdentifier(issuing.keyId),
        ],
      },
      issuingSigner,
    );
  const responder = identity("ocsp", responderSigner, () => buildResponder(now));
  // For OCSP responses signed on the thread pool (ocsp-responder.ts): the responder key is always a file's.
  if (!rfc6979) responder.privateKey = responderKey;

  if (metaPath && !existing) writeFileSync(metaPath, JSON.stringify(meta, null, 2) + "\n");

  return {
    keyType: meta.keyType,
    hsm: meta.hsm,
    deterministic: keysFromRandom && !meta.hsm,
    root,
    issuing,
    responder,
    renewResponder() {
      const der = buildResponder(opts.clock.nowMs());
      const p = certFile("ocsp");
      if (p) writeFileSync(p, encodePem(der, "CERTIFICATE"));
      responder.certificate = der;
      responder.notAfter = notAfterOf(der);
    },
    close() {
      hsmSigner?.close();
    },
  };
}

/** notAfter of a certificate we built, in ms. */
function notAfterOf(der: Uint8Array): number {
  return new Certificate(der).notAfter;
}
