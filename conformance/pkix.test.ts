import test from "ava";
import fc from "fast-check";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { breakSignature, buildOcspRequest, makeCsr, normSerial, ocspRequestSerials, parseOcspResponse, stripOcspNonce } from "./pkix.js";
import { MALFORMED_REQUEST } from "./adapters/loopback-http.js";

test("normSerial compares serials as integers", (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: (1n << 159n) - 1n }), fc.nat({ max: 4 }), (n, pad) => {
      const hex = n.toString(16);
      return normSerial("0".repeat(pad) + hex.toUpperCase()) === hex && normSerial(hex.replace(/(..)/g, "$1:")) === hex;
    }),
  );
  t.is(normSerial(""), "0");
});

test("an OCSP request names the serials asked, carries the nonce, and loses it when stripped", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cardloop-pkix-"));
  const key = join(dir, "k.pem");
  const ca = join(dir, "ca.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", ca, "-subj", "/CN=t", "-days", "1"], { stdio: "ignore" });
  const issuer = execFileSync("cat", [ca], { encoding: "utf8" });
  const serials = ["0a1b2c", "ff00ff00ff00ff00", "1"];
  const req = buildOcspRequest(issuer, serials, new Uint8Array([1, 2, 3, 4]));
  t.deepEqual(ocspRequestSerials(req), ["a1b2c", "ff00ff00ff00ff00", "1"]);
  // the openssl CLI reads what we build
  const file = join(dir, "req.der");
  writeFileSync(file, req);
  const text = execFileSync("openssl", ["ocsp", "-reqin", file, "-req_text"], { encoding: "utf8" });
  t.regex(text, /Serial Number: FF00FF00FF00FF00/);
  t.regex(text, /OCSP Nonce/);
  writeFileSync(file, stripOcspNonce(req));
  t.notRegex(execFileSync("openssl", ["ocsp", "-reqin", file, "-req_text"], { encoding: "utf8" }), /OCSP Nonce/);
});

test("a malformedRequest response parses as such; a broken CSR no longer verifies", async (t) => {
  t.is(parseOcspResponse(MALFORMED_REQUEST).responseStatusName, "malformedRequest");
  const csr = await makeCsr("X");
  const dir = mkdtempSync(join(tmpdir(), "cardloop-pkix-"));
  writeFileSync(join(dir, "good.csr"), csr.pem);
  writeFileSync(join(dir, "bad.csr"), breakSignature(csr.pem));
  // openssl 3.0 exits 0 either way: its verdict is in the text
  const verdict = (f: string) => spawnSync("openssl", ["req", "-in", join(dir, f), "-verify", "-noout"], { encoding: "utf8" }).stderr;
  t.regex(verdict("good.csr"), /verify OK/);
  t.regex(verdict("bad.csr"), /verify failure/);
});
