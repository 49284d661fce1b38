import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkcs11js from "pkcs11js";
import { makeDirs, type Random } from "../../core/index.js";
import { p256EcParams, p256SpkiFromEcPoint, rawEcdsaToDer, signatureAlgorithm, type SigningKey } from "../../pki/index.js";

/**
 * The issuing CA key inside SoftHSMv2, reached through pkcs11js.
 *
 * The token directory and SOFTHSM2_CONF live under the CA's data directory,
 * so nothing touches /var/lib/softhsm or the system configuration. The key
 * never leaves the token (CKA_SENSITIVE, not extractable). SoftHSM's
 * CKM_ECDSA signs a hash, so we hash first and pki turns its raw r||s into
 * DER (as it reads the token's public key: no DER is handled here).
 *
 * SOFTHSM2_CONF is read by the library at C_Initialize and is process-wide:
 * one process uses one SoftHSM token directory.
 *
 * Not reproducible under a seed: the token generates the key and draws each
 * ECDSA k itself (PKCS#11 has no deterministic ECDSA mechanism SoftHSM
 * offers), so a seeded CA with this signer reports `deterministic: false`
 * and warns (embedded-ca.ts); its root and responder keys stay seeded.
 */
export const SOFTHSM_LIBRARY_CANDIDATES = [
  "/usr/lib/softhsm/libsofthsm2.so",
  "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/local/lib/softhsm/libsofthsm2.so",
];

export interface SoftHsmOptions {
  /** Directory that holds softhsm2.conf, tokens/ and the user PIN file. */
  dir: string;
  label?: string;
  keyLabel?: string;
  library?: string;
  random: Random;
}

export class SoftHsmSigner implements SigningKey {
  readonly algorithm = signatureAlgorithm("ec");
  private constructor(
    private readonly mod: pkcs11js.PKCS11,
    private readonly session: Buffer,
    private readonly key: Buffer,
    readonly spki: Uint8Array,
  ) {}

  static open(opts: SoftHsmOptions): SoftHsmSigner {
    const label = opts.label ?? "cardloop-ca";
    const keyLabel = opts.keyLabel ?? "cardloop-issuing";
    const library = opts.library ?? SOFTHSM_LIBRARY_CANDIDATES.find((p) => existsSync(p));
    if (!library || !existsSync(library)) {
      throw new Error("SoftHSMv2 library not found (install the Debian package softhsm2)");
    }
    const tokens = join(opts.dir, "tokens");
    makeDirs(tokens, 0o700);
    const conf = join(opts.dir, "softhsm2.conf");
    writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
    const pinFile = join(opts.dir, "user.pin");
    const env = { ...process.env, SOFTHSM2_CONF: conf };
    if (readdirSync(tokens).length === 0) {
      // Initialise the token before the library loads: SoftHSM scans the token directory at C_Initialize.
      const pin = Buffer.from(opts.random.bytes(12)).toString("hex");
      const soPin = Buffer.from(opts.random.bytes(12)).toString("hex");
      execFileSync("softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", soPin], {
        env,
        stdio: ["ignore", "ignore", "pipe"],
      });
      writeFileSync(pinFile, pin + "\n", { mode: 0o600 });
    }
    const pin = readFileSync(pinFile, "utf8").trim();
    process.env.SOFTHSM2_CONF = conf;

    const mod = new pkcs11js.PKCS11();
    mod.load(library);
    try {
      mod.C_Initialize();
    } catch (err) {
      // Already initialised in this process (a second CA instance): reuse it.
      if (!String(err).includes("CKR_CRYPTOKI_ALREADY_INITIALIZED")) throw err;
    }
    const slot = mod.C_GetSlotList(true).find((s) => mod.C_GetTokenInfo(s).label.trim() === label);
    if (!slot) throw new Error(`SoftHSM token "${label}" not found in ${tokens}`);
    const session = mod.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      mod.C_Login(session, pkcs11js.CKU_USER, pin);
    } catch (err) {
      if (!String(err).includes("CKR_USER_ALREADY_LOGGED_IN")) throw err;
    }

    let priv = findOne(mod, session, pkcs11js.CKO_PRIVATE_KEY, keyLabel);
    let pub = findOne(mod, session, pkcs11js.CKO_PUBLIC_KEY, keyLabel);
    if (!priv || !pub) {
      const pair = mod.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_LABEL, value: keyLabel },
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(p256EcParams()) },
          { type: pkcs11js.CKA_VERIFY, value: true },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_LABEL, value: keyLabel },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          { type: pkcs11js.CKA_SIGN, value: true },
        ],
      );
      priv = pair.privateKey;
      pub = pair.publicKey;
    }
    const [attr] = mod.C_GetAttributeValue(session, pub, [{ type: pkcs11js.CKA_EC_POINT }]);
    return new SoftHsmSigner(mod, session, priv, p256SpkiFromEcPoint(attr.value as Buffer));
  }

  sign(data: Uint8Array): Uint8Array {
    return this.signDigest(createHash("sha256").update(data).digest());
  }

  /** Signs a SHA-256 digest computed elsewhere (the CRL worker hashes a 50 MB CRL off this thread; the key stays here). */
  signDigest(digest: Uint8Array): Uint8Array {
    if (digest.length !== 32) throw new RangeError(`a SHA-256 digest is 32 octets (got ${digest.length})`);
    this.mod.C_SignInit(this.session, { mechanism: pkcs11js.CKM_ECDSA }, this.key);
    const raw = this.mod.C_Sign(this.session, Buffer.from(digest), Buffer.alloc(132));
    return rawEcdsaToDer(raw);
  }

  close(): void {
    try {
      this.mod.C_CloseSession(this.session);
    } catch {
      // already closed with the library
    }
  }
}

function findOne(mod: pkcs11js.PKCS11, session: Buffer, cls: number, label: string): Buffer | null {
  mod.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: cls },
    { type: pkcs11js.CKA_LABEL, value: label },
  ]);
  const h = mod.C_FindObjects(session);
  mod.C_FindObjectsFinal(session);
  return h;
}
