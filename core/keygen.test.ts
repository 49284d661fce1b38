import test from "ava";
import { sign, verify } from "node:crypto";
import { generateEcKeyPair, generateEd25519KeyPair } from "./keygen.js";

test("EC key pairs (P-256, P-384) without KeyGenJob: the right curve, and what one signs the other verifies", (t) => {
  for (const curve of ["P-256", "P-384"] as const) {
    for (let i = 0; i < 50; i++) {
      // 50 keys: about one in 256 has a private scalar with a leading zero byte, which the JWK must keep
      const { privateKey, publicKey } = generateEcKeyPair(curve);
      t.is(privateKey.asymmetricKeyDetails?.namedCurve, curve === "P-256" ? "prime256v1" : "secp384r1");
      const sig = sign("sha256", Buffer.from("cardloop"), privateKey);
      t.true(verify("sha256", Buffer.from("cardloop"), publicKey, sig));
    }
  }
});

test("Ed25519 key pairs from a random seed: distinct, and they sign and verify", (t) => {
  const a = generateEd25519KeyPair();
  const b = generateEd25519KeyPair();
  t.is(a.privateKey.asymmetricKeyType, "ed25519");
  t.notDeepEqual(a.publicKey.export({ format: "der", type: "spki" }), b.publicKey.export({ format: "der", type: "spki" }));
  const sig = sign(null, Buffer.from("x"), a.privateKey);
  t.true(verify(null, Buffer.from("x"), a.publicKey, sig));
  t.false(verify(null, Buffer.from("x"), b.publicKey, sig));
});
