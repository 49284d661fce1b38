/**
 * APDU round trip through the real PC/SC stack (pcsclite -> pcscd -> vpcd ->
 * the emulated PIV card, reached through the harness's unix-socket relay in
 * pcscd's network namespace): cardloop's PcscReader.transmit
 * against a bare pcsclite loop (the binding's own callback API), measured in
 * the same run on the same card, in alternating rounds so drift hits both.
 * Target: cardloop adds <= 10% at the median.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { summarise, type LatencySummary } from "../core/index.js";
import { PivCard } from "../simulator/card/index.js";
import { PcscReader, VpcdBridge, parseVpcdEndpoint } from "../simulator/reader/index.js";
import { READER_0, startPcscd } from "../harness/pcscd.js";

const ROUNDS = 6;
const PER_ROUND = 2000;
const WARMUP = 300;
// GET DATA of the CHUID (case 4, ~60 bytes back): a typical small read
const COMMAND = Buffer.from("00CB3FFF055C035FC10200", "hex");
const MAX_RESPONSE = 65538; // what PcscReader passes too

interface BareReader {
  name: string;
  SCARD_SHARE_SHARED: number;
  SCARD_PROTOCOL_T1: number;
  SCARD_PROTOCOL_T0: number;
  SCARD_LEAVE_CARD: number;
  connect(o: { share_mode: number; protocol: number }, cb: (err: unknown, protocol: number) => void): void;
  disconnect(d: number, cb: (err: unknown) => void): void;
  transmit(data: Buffer, len: number, protocol: number, cb: (err: unknown, res: Buffer) => void): void;
  close(): void;
  on(ev: string, fn: (...a: unknown[]) => void): void;
}

async function main(): Promise<void> {
  const pcscd = await startPcscd({ quickack: true });
  const card = PivCard.create({ expires: new Date("2030-01-01T00:00:00Z") });
  const bridge = new VpcdBridge(card, parseVpcdEndpoint(pcscd.endpoints[0]));
  const bare: number[] = [];
  const ours: number[] = [];
  try {
    await bridge.insert();
    const reader = await PcscReader.open(READER_0);
    await reader.waitForCard(5000);

    // the peer: the binding used directly, as its README shows
    const pcsc = createRequire(import.meta.url)("pcsclite") as () => { on(e: string, f: (r: BareReader) => void): void; close(): void };
    // (typed loosely: the binding's typings do not export its reader type)
    const ctx = pcsc();
    const all: BareReader[] = [];
    ctx.on("error", () => undefined); // "command cancelled" when closed
    const raw: BareReader = await new Promise((resolve) =>
      ctx.on("reader", (r) => {
        all.push(r);
        r.on("error", () => undefined);
        if (r.name === READER_0) resolve(r);
      }),
    );
    const connectBare = () =>
      new Promise<number>((res, rej) =>
        raw.connect({ share_mode: raw.SCARD_SHARE_SHARED, protocol: raw.SCARD_PROTOCOL_T0 | raw.SCARD_PROTOCOL_T1 }, (e, p) => (e ? rej(e) : res(p))),
      );
    const bareOnce = (proto: number) =>
      new Promise<Buffer>((res, rej) => raw.transmit(COMMAND, MAX_RESPONSE, proto, (e, r) => (e ? rej(e) : res(r))));

    const runBare = async (n: number, into?: number[]) => {
      const proto = await connectBare();
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const r = await bareOnce(proto);
        const dt = performance.now() - t0;
        if (r[r.length - 2] !== 0x90) throw new Error("bare loop: unexpected SW");
        into?.push(dt);
      }
      await new Promise<void>((res, rej) => raw.disconnect(raw.SCARD_LEAVE_CARD, (e) => (e ? rej(e) : res())));
    };
    const cmd = new Uint8Array(COMMAND);
    const runOurs = async (n: number, into?: number[]) => {
      await reader.connect();
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const r = await reader.transmit(cmd);
        const dt = performance.now() - t0;
        if (r[r.length - 2] !== 0x90) throw new Error("PcscReader: unexpected SW");
        into?.push(dt);
      }
      await reader.disconnect();
    };

    await runBare(WARMUP);
    await runOurs(WARMUP);
    for (let round = 0; round < ROUNDS; round++) {
      // alternate which goes first, so neither always follows the other
      if (round % 2 === 0) {
        await runBare(PER_ROUND, bare);
        await runOurs(PER_ROUND, ours);
      } else {
        await runOurs(PER_ROUND, ours);
        await runBare(PER_ROUND, bare);
      }
    }
    // let every monitoring thread settle in its blocking call before closing (see PcscContext.release)
    await new Promise((r) => setTimeout(r, 100));
    for (const r of all) r.close();
    ctx.close();
    await reader.close();
  } finally {
    await bridge.close();
    await pcscd.stop();
  }

  const b = summarise(bare);
  const o = summarise(ours);
  const result = {
    benchmark: "pcsc",
    description: "APDU round trip GET DATA CHUID through pcsclite -> pcscd -> vpcd -> relay -> emulated PIV card (quickack on in pcscd's namespace)",
    apdusEach: bare.length,
    bare: figures(b),
    cardloop: figures(o),
    ratioP50: o.p50Ms / b.p50Ms,
    ratioMean: o.meanMs / b.meanMs,
    targetRatio: 1.1,
  };
  const dir = path.join(import.meta.dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "pcsc.json"), JSON.stringify(result, null, 2) + "\n");
  const f = (v: number) => v.toFixed(3);
  console.log(`pcsc round trip (GET DATA CHUID, ${bare.length} APDUs each, pcscd + vpcd, quickack on)`);
  console.log(`  bare pcsclite loop     p50 ${f(result.bare.p50Ms)} ms  p95 ${f(result.bare.p95Ms)} ms  p99 ${f(result.bare.p99Ms)} ms`);
  console.log(`  PcscReader.transmit    p50 ${f(result.cardloop.p50Ms)} ms  p95 ${f(result.cardloop.p95Ms)} ms  p99 ${f(result.cardloop.p99Ms)} ms`);
  console.log(`  ratio cardloop/bare    p50 ${result.ratioP50.toFixed(3)}  mean ${result.ratioMean.toFixed(3)}  (target <= 1.10)`);
}

/** The figures this benchmark has always written, from core's summary. */
function figures(s: LatencySummary): Pick<LatencySummary, "p50Ms" | "p95Ms" | "p99Ms" | "meanMs"> {
  return { p50Ms: s.p50Ms, p95Ms: s.p95Ms, p99Ms: s.p99Ms, meanMs: s.meanMs };
}

await main();
