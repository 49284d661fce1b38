import test from "ava";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { Certificate, pemToDer } from "../../pki/index.js";
import { CaError, type Holder } from "./api.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { normaliseHolder } from "./holder-names.js";
import { makeCsr } from "./testing.js";

/** normaliseHolder: the holder fields the CA writes into certificates, held to X.509's rules (defect 10). */

const base: Holder = { id: "h1", name: "Carol Example", email: "carol@example.org" };

const refused = (t: import("ava").ExecutionContext, h: Holder, field: string): void => {
  const err = t.throws(() => normaliseHolder(h), { instanceOf: CaError });
  t.is(err?.status, 400);
  t.is(err?.reason, "bad-name");
  t.true(err?.message.startsWith(field), err?.message);
};

test("a plain holder comes back unchanged", (t) => {
  t.deepEqual(normaliseHolder({ ...base, organisation: "ACME", registration: { dob: "1990-01-01" } }), {
    ...base,
    organisation: "ACME",
    registration: { dob: "1990-01-01" },
  });
});

test("NFD name, organisation and email come out NFC", (t) => {
  const nfd = "Zoe\u0308 Me\u0301nard"; // Zoë Ménard, decomposed
  const out = normaliseHolder({ ...base, name: nfd, organisation: "Cafe\u0301", email: "zoe\u0308@example.org" });
  t.is(out.name, "Zo\u00eb M\u00e9nard");
  t.is(out.organisation, "Caf\u00e9");
  t.is(out.email, "zo\u00eb@example.org");
  t.not(out.name, nfd);
});

test("control characters are refused in every field (C0, DEL, C1)", (t) => {
  for (const c of ["\u0000", "\u0009", "\u001f", "\u007f", "\u0085", "\u009f"]) {
    refused(t, { ...base, name: `Car${c}ol` }, "holder.name");
    refused(t, { ...base, organisation: `AC${c}ME` }, "holder.organisation");
    refused(t, { ...base, email: `car${c}ol@example.org` }, "holder.email");
  }
});

test("upper bounds: a 64-character name is taken, 65 refused; 64-character organisation; 256-character email refused", (t) => {
  t.is(normaliseHolder({ ...base, name: "x".repeat(64) }).name.length, 64);
  refused(t, { ...base, name: "x".repeat(65) }, "holder.name");
  refused(t, { ...base, name: "x".repeat(256) }, "holder.name");
  // characters, not UTF-16 units: 64 astral characters are 128 units and still fit
  t.is([...normaliseHolder({ ...base, name: "\u{1F600}".repeat(64) }).name].length, 64);
  refused(t, { ...base, organisation: "o".repeat(65) }, "holder.organisation");
  refused(t, { ...base, email: `${"a".repeat(60)}@${"d".repeat(63)}.${"d".repeat(63)}.${"d".repeat(63)}.example` }, "holder.email");
});

test("email form: a mailbox with a dot-atom local part and a host name; IDN domains and UTF-8 local parts are taken", (t) => {
  for (const bad of ["carol", "@example.org", "carol@", "ca rol@example.org", "carol..x@example.org", ".carol@example.org", "carol@exa mple.org", "carol@-bad.org", `${"l".repeat(65)}@example.org`]) {
    refused(t, { ...base, email: bad }, "holder.email");
  }
  t.is(normaliseHolder({ ...base, email: "carol@b\u00fccher.example" }).email, "carol@b\u00fccher.example");
  t.is(normaliseHolder({ ...base, email: "\u00e9lodie@example.org" }).email, "\u00e9lodie@example.org");
  t.is(normaliseHolder({ ...base, email: "a+tag@example.org" }).email, "a+tag@example.org");
});

test("empty and unpaired-surrogate values are refused", (t) => {
  refused(t, { ...base, name: "   " }, "holder.name");
  refused(t, { ...base, name: "bad\ud800" }, "holder.name");
});

test("an absent (null) organisation stays absent", (t) => {
  const out = normaliseHolder({ ...base, organisation: null as unknown as string });
  t.false("organisation" in out);
});

test("through the embedded CA: an NFD name and a non-ASCII mailbox are issued as NFC UTF-8 (SmtpUTF8Mailbox), a NUL or 65-character name is a 400", async (t) => {
  const ca = await EmbeddedCa.open({ clock: new VirtualClock("2026-03-01T10:00:00Z"), random: new SeededRandom("names"), kdfLog2N: 4 });
  t.teardown(() => ca.close());
  const { pem: csrPem } = await makeCsr();
  const issue = (holder: Holder) => ca.issue({ csrPem, profile: "authentication", holder, raToken: ca.raToken });
  const r = await issue({ id: "NID-9", name: "Zoe\u0308 Me\u0301nard", email: "\u00e9lodie@b\u00fccher.example", organisation: "Cafe\u0301" });
  const cert = new Certificate(pemToDer(r.certificatePem));
  t.is(cert.subject.display, "CN=Zo\u00eb M\u00e9nard, O=Caf\u00e9");
  t.deepEqual(cert.emailAltNames, ["\u00e9lodie@b\u00fccher.example"]);
  t.true(Buffer.from(cert.der).includes(Buffer.from("\u00e9lodie", "utf8")), "UTF-8 bytes");
  t.false(Buffer.from(cert.der).includes(Buffer.from("\u00e9lodie", "latin1")), "not latin1 bytes");
  for (const holder of [{ id: "NID-10", name: "Car\u0000ol", email: "carol@example.org" }, { id: "NID-11", name: "x".repeat(65), email: "x@example.org" }]) {
    const err = await t.throwsAsync(issue(holder), { instanceOf: CaError });
    t.is(err?.status, 400);
    t.is(err?.reason, "bad-name");
  }
});
