import { execFileSync } from "node:child_process";
import test from "ava";
import { PivCard } from "../simulator/card/index.js";
import { MemoryReader } from "../simulator/reader/index.js";
import { PivClient, buildCsr, verifyPin, type KeyAlgorithm } from "../simulator/terminal/index.js";

/** The card signs its own PKCS#10 request; OpenSSL (the real one) must accept the signature and read the subject. */
for (const alg of ["p256", "p384", "rsa2048"] as KeyAlgorithm[]) {
  test(`a ${alg} request signed on the card verifies with openssl req -verify`, async (t) => {
    const card = PivCard.create({ expires: new Date("2030-01-01T00:00:00Z") });
    const reader = new MemoryReader(card);
    await reader.connect();
    const client = new PivClient(reader);
    await client.select();
    await client.authenticate(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8]), "3des");
    const publicKey = await client.generateKey(0x9c, alg);
    const signer = {
      signDigest: async (slot: number, a: KeyAlgorithm, digest: Uint8Array) => {
        await verifyPin(client, "123456"); // 9C: PIN right before each signature
        return client.signDigest(slot as 0x9c, a, digest);
      },
    };
    const { pem } = await buildCsr(signer, 0x9c, alg, publicKey, { commonName: "Zoë Example", email: "zoe@example.org", organisation: "ACME", serialNumber: "Z123" });
    const out = execFileSync("openssl", ["req", "-noout", "-verify", "-subject", "-nameopt", "utf8"], { input: pem, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
    t.regex(out, /subject=O\s*=\s*ACME, CN\s*=\s*Zoë Example, serialNumber\s*=\s*Z123, emailAddress\s*=\s*zoe@example.org/);
    // OpenSSL prints "verify OK" (1.x) or "Certificate request self-signature verify OK" (3.x) on stderr or stdout.
    const both = execFileSync("sh", ["-c", "openssl req -noout -verify 2>&1"], { input: pem, encoding: "utf8" });
    t.regex(both, /verify OK/);
  });
}
