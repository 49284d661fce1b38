import test from "ava";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { spawnGroup, tempDir } from "../harness/processes.js";
import { makeCsr } from "../simulator/ca/testing.js";

/**
 * kill -9 loses no acknowledged revocation: the served CA (the real CLI) is
 * SIGKILLed while revocations are in flight, restarted on the same data
 * directory, and every revocation that got a 200 must be there.
 */
const root = join(import.meta.dirname, "..");

function serve(dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(root, "bin/cardloop.js"), "ca", "serve", "--data", dataDir, "--port", "0"], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group: killed as a whole
  });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${out} ${err}`)), 30_000);
    child.stderr!.on("data", (d) => (err += d));
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /^(http:\/\/\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`ca serve exited with ${code}: ${err}`));
    });
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  });
}

const post = (url: string, body: unknown, token?: string) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });

test("every acknowledged revocation survives SIGKILL and restart", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "cardloop-ca-durable-"));
  const first = await serve(dataDir);
  try {
    const csr = (await makeCsr()).pem;
    const holder = { id: "D-1", name: "Dora Durable", email: "dora@example.org" };
    const serials: string[] = [];
    let holderCode = "";
    // The issuing station's token, as the first start wrote it for the administrator.
    const raToken = readFileSync(join(dataDir, "ra.token"), "utf8").trim();
    for (let i = 0; i < 60; i++) {
      const r = await post(`${first.url}/api/v1/certificates`, { csr, profile: i % 2 ? "signature" : "authentication", holder }, raToken);
      const j = (await r.json()) as { serial: string; cancellationCodes?: { holder: string } };
      if (j.cancellationCodes) holderCode = j.cancellationCodes.holder;
      serials.push(j.serial);
    }
    const token = readFileSync(join(dataDir, "operator.token"), "utf8").trim();
    const acked = new Set<string>();
    const inflight: Promise<void>[] = [];
    // singles with the holder's code, and bulk batches, all at once
    for (const s of serials.slice(0, 20)) {
      inflight.push(
        post(`${first.url}/api/v1/certificates/${s}/revoke`, { reason: "keyCompromise", role: "holder", code: holderCode, email: holder.email, name: holder.name })
          .then(async (r) => {
            if (r.status === 200) acked.add(((await r.json()) as { serial: string }).serial);
          })
          .catch(() => undefined),
      );
    }
    for (let b = 20; b < 60; b += 5) {
      const batch = serials.slice(b, b + 5);
      inflight.push(
        post(`${first.url}/api/v1/revocations`, { serials: batch, reason: "cessationOfOperation" }, token)
          .then(async (r) => {
            if (r.status === 200 && ((await r.json()) as { revoked: number }).revoked === batch.length) batch.forEach((s) => acked.add(s));
          })
          .catch(() => undefined),
      );
    }
    // Kill as soon as some acknowledgements are in, with others still in flight.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (acked.size >= 10) {
          clearInterval(poll);
          resolve();
        }
      }, 1);
    });
    await killed(first.child);
    await Promise.all(inflight);
    const ackedNow = [...acked];
    t.true(ackedNow.length >= 10);

    const second = await serve(dataDir);
    try {
      for (const s of ackedNow) {
        const r = await fetch(`${second.url}/api/v1/certificates/${s}`);
        const j = (await r.json()) as { status: string };
        t.is(j.status, "revoked", `acknowledged revocation of ${s} lost`);
      }
      // The restarted CA still knows every issued certificate and publishes the revocations.
      for (const s of serials) t.is((await fetch(`${second.url}/api/v1/certificates/${s}`)).status, 200);
      const crl = Buffer.from(await (await fetch(`${second.url}/crl`)).arrayBuffer());
      t.true(crl.length > 100);
    } finally {
      await killed(second.child);
    }
  } finally {
    await killed(first.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

/**
 * Group commit keeps the promise: single revocations sent 64 at once share
 * commits, and the server is SIGKILLed while they are in flight; after a
 * restart every revocation that got a 200 is revoked (and every issued
 * certificate is known).
 */
test("group commit: kill -9 during concurrent single revocations loses no acknowledged one", async (t) => {
  const dataDir = join(tempDir(t, "ca-group-commit"), "ca");
  const cli = join(root, "bin/cardloop.js");
  const serveArgs = ["ca", "serve", "--data", dataDir, "--port", "0", "--max-requests-per-client", "256", "--max-connections-per-client", "256"];
  const first = spawnGroup(t, process.execPath, [cli, ...serveArgs], { cwd: root });
  const url = (await first.waitFor("stdout", /^(http:\/\/\S+)$/m))[1];
  const csr = (await makeCsr()).pem;
  const raToken = readFileSync(join(dataDir, "ra.token"), "utf8").trim();
  const COUNT = 400;
  const issued: Array<{ serial: string; code: string; holder: { id: string; name: string; email: string } }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < COUNT) {
        const i = next++;
        const holder = { id: `GK-${i}`, name: `Holder ${i}`, email: `gk${i}@example.org` };
        const r = await post(`${url}/api/v1/certificates`, { csr, profile: "authentication", holder }, raToken);
        t.is(r.status, 201);
        const j = (await r.json()) as { serial: string; cancellationCodes: { holder: string } };
        issued.push({ serial: j.serial, code: j.cancellationCodes.holder, holder });
      }
    }),
  );
  const acked = new Set<string>();
  let sent = 0;
  let stopped = false;
  const inflight = Promise.all(
    Array.from({ length: 64 }, async () => {
      while (!stopped && sent < issued.length) {
        const c = issued[sent++];
        try {
          const r = await post(`${url}/api/v1/certificates/${c.serial}/revoke`, { reason: "keyCompromise", role: "holder", code: c.code, email: c.holder.email, name: c.holder.name });
          if (r.status === 200) acked.add(((await r.json()) as { serial: string }).serial);
          else await r.body?.cancel();
        } catch {
          stopped = true; // the server is gone: what was not answered was not acknowledged
        }
      }
    }),
  );
  // Kill once some are acknowledged, with more in flight.
  while (acked.size < 60 && sent < issued.length) await new Promise((r) => setTimeout(r, 1));
  first.signal("SIGKILL");
  await first.exited;
  await inflight;
  const ackedNow = [...acked];
  t.true(ackedNow.length >= 60, `${ackedNow.length} acknowledged before the kill`);

  const second = spawnGroup(t, process.execPath, [cli, ...serveArgs], { cwd: root });
  const url2 = (await second.waitFor("stdout", /^(http:\/\/\S+)$/m))[1];
  const statuses = new Map<string, string>();
  for (const c of issued) {
    const r = await fetch(`${url2}/api/v1/certificates/${c.serial}`);
    t.is(r.status, 200, `issued certificate ${c.serial} lost`);
    statuses.set(c.serial, ((await r.json()) as { status: string }).status);
  }
  const lost = ackedNow.filter((s) => statuses.get(s) !== "revoked");
  t.deepEqual(lost, [], "acknowledged revocations lost");
  await second.stop();
});
