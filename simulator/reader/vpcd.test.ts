import test from "ava";
import fc from "fast-check";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { CardWithdrawn, FrameDecoder, VpcdBridge, encodeFrame, formatVpcdEndpoint, parseVpcdEndpoint, vpcdEndpointAt, type BridgedCard } from "./vpcd.js";
import type { Card } from "../card/index.js";

/** A card that records what happens to it and echoes each command's header with 9000. */
function recordingCard() {
  const log: string[] = [];
  const card: Card = {
    powerOn: () => (log.push("on"), Uint8Array.of(0x3b, 0x00)),
    powerOff: () => void log.push("off"),
    transmit: (c) => Uint8Array.of(...c.subarray(0, 4), 0x90, 0x00),
  };
  return { card, log };
}

/** Plays vpcd's side: a TCP server speaking length-prefixed frames. */
async function fakeVpcd(port = 0) {
  const server = net.createServer();
  const conns: net.Socket[] = [];
  const frames: Buffer[] = [];
  let waiter: (() => void) | undefined;
  server.on("connection", (s) => {
    conns.push(s);
    const dec = new FrameDecoder();
    s.on("data", (d) => {
      frames.push(...dec.push(d));
      waiter?.();
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    conns,
    send: (payload: number[]) => conns[conns.length - 1].write(encodeFrame(Uint8Array.from(payload))),
    async next(): Promise<Buffer> {
      while (frames.length === 0) await new Promise<void>((r) => (waiter = r));
      return frames.shift()!;
    },
    close: () => new Promise<void>((r) => {
      for (const c of conns) c.destroy();
      server.close(() => r());
    }),
  };
}

test("frames: length-prefixed, split and coalesced arbitrarily, decode to the same payloads", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 50 })), (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
        const dec = new FrameDecoder();
        const out: Buffer[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          const n = cuts.length ? cuts[i % cuts.length] : stream.length;
          out.push(...dec.push(stream.subarray(pos, pos + n)));
          pos += n;
        }
        return out.length === payloads.length && out.every((o, i) => Buffer.compare(o, Buffer.from(payloads[i])) === 0);
      }),
    ),
  );
});

test("endpoint parsing: defaults, host, port, host:port; bad ports are errors", (t) => {
  t.deepEqual(parseVpcdEndpoint(undefined), { host: "127.0.0.1", port: 35963 });
  t.deepEqual(parseVpcdEndpoint("35964"), { host: "127.0.0.1", port: 35964 });
  t.deepEqual(parseVpcdEndpoint("example.test"), { host: "example.test", port: 35963 });
  t.deepEqual(parseVpcdEndpoint("10.0.0.2:4000"), { host: "10.0.0.2", port: 4000 });
  t.deepEqual(parseVpcdEndpoint(":4000"), { host: "127.0.0.1", port: 4000 });
  t.throws(() => parseVpcdEndpoint("h:70000"), { message: /port/ });
});

test("unix endpoints: parsed, formatted, and reader 1's socket is the one numbered up", (t) => {
  t.deepEqual(parseVpcdEndpoint("unix:/tmp/x/vpcd0.sock"), { path: "/tmp/x/vpcd0.sock" });
  t.throws(() => parseVpcdEndpoint("unix:"), { message: /socket path/ });
  t.is(formatVpcdEndpoint({ path: "/a/vpcd0.sock" }), "unix:/a/vpcd0.sock");
  t.is(formatVpcdEndpoint({ host: "127.0.0.1", port: 35963 }), "127.0.0.1:35963");
  t.deepEqual(vpcdEndpointAt({ path: "/a9/vpcd0.sock" }, 1), { path: "/a9/vpcd1.sock" });
  t.deepEqual(vpcdEndpointAt({ host: "h", port: 4000 }, 1), { host: "h", port: 4001 });
  t.throws(() => vpcdEndpointAt({ path: "/a/vpcd.sock" }, 1), { message: /reader number/ });
});

test("a bridge dials a unix socket endpoint the same way", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cardloop-vpcd-unix-"));
  const sock = path.join(dir, "vpcd0.sock");
  const got: Buffer[] = [];
  const server = net.createServer((s) => {
    s.on("data", (d) => got.push(d));
    s.write(encodeFrame(Uint8Array.of(4)));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const { card } = recordingCard();
  const bridge = new VpcdBridge(card, parseVpcdEndpoint(`unix:${sock}`));
  t.is(bridge.endpoint, `unix:${sock}`);
  await bridge.insert();
  t.true(bridge.inserted);
  const deadline = Date.now() + 2000;
  while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual([...Buffer.concat(got)], [0, 2, 0x3b, 0x00], "the ATR answers GET ATR");
  await bridge.close();
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("controls and APDUs: power, reset, ATR answered, APDU answered, unknown control ignored", async (t) => {
  const vpcd = await fakeVpcd();
  const { card, log } = recordingCard();
  const bridge = new VpcdBridge(card, { port: vpcd.port });
  await bridge.insert();
  t.true(bridge.inserted);
  vpcd.send([1]); // power on
  vpcd.send([4]); // get ATR
  t.deepEqual([...(await vpcd.next())], [0x3b, 0x00]);
  vpcd.send([9]); // unknown control: no answer expected
  vpcd.send([0x00, 0xa4, 0x04, 0x00, 0x02, 0x3f, 0x00]);
  t.deepEqual([...(await vpcd.next())], [0x00, 0xa4, 0x04, 0x00, 0x90, 0x00]);
  vpcd.send([2]); // reset
  vpcd.send([0]); // power off
  vpcd.send([4]);
  await vpcd.next();
  t.deepEqual(log, ["on", "on", "on", "off"]); // insertion, power on, reset, power off
  t.is(bridge.stats.apdus, 1);
  await bridge.close();
  t.false(bridge.inserted);
  await vpcd.close();
});

test("a card that throws or answers nothing still gives vpcd a status word", async (t) => {
  const vpcd = await fakeVpcd();
  let n = 0;
  const card: Card = {
    powerOn: () => Uint8Array.of(0x3b, 0x00),
    powerOff: () => undefined,
    transmit: () => {
      if (n++ === 0) throw new Error("bug");
      return new Uint8Array(0);
    },
  };
  const bridge = new VpcdBridge(card, { port: vpcd.port });
  const errors: unknown[] = [];
  bridge.on("card-error", (e) => errors.push(e));
  await bridge.insert();
  vpcd.send([0, 0xb0, 0, 0]);
  t.deepEqual([...(await vpcd.next())], [0x6f, 0x00]);
  vpcd.send([0, 0xb0, 0, 0]);
  t.deepEqual([...(await vpcd.next())], [0x6f, 0x00]);
  t.is(errors.length, 1);
  await bridge.close();
  await vpcd.close();
});

test("reconnects with backoff until vpcd listens, and again after vpcd drops the connection", async (t) => {
  // find a free port, then leave it closed for a while
  const probe = await fakeVpcd();
  const port = probe.port;
  await probe.close();
  const { card } = recordingCard();
  const bridge = new VpcdBridge(card, { port, initialBackoffMs: 10, maxBackoffMs: 40 });
  const retries: number[] = [];
  bridge.on("retry", (_e, delay: number) => retries.push(delay));
  const inserted = bridge.insert();
  await new Promise((r) => setTimeout(r, 150));
  t.false(bridge.inserted);
  const vpcd = await fakeVpcd(port);
  await inserted;
  t.true(bridge.inserted);
  t.true(retries.length >= 2, `retried ${retries.length} times`);
  t.true(retries.every((d) => d <= 40), "backoff is capped");
  t.deepEqual(retries.slice(0, 3), [10, 20, 40].slice(0, Math.min(3, retries.length)));
  // vpcd (pcscd) goes away and comes back: the card is re-inserted
  const removed = new Promise((r) => bridge.once("removed", r));
  for (const c of vpcd.conns) c.destroy();
  await removed;
  await new Promise((r) => bridge.once("inserted", r));
  t.is(bridge.stats.connects, 2);
  await bridge.close();
  await vpcd.close();
});

test("remove() is clean: the connection closes, no reconnect, and the card can go back in", async (t) => {
  const vpcd = await fakeVpcd();
  const { card, log } = recordingCard();
  const bridge = new VpcdBridge(card, { port: vpcd.port, initialBackoffMs: 5 });
  await bridge.insert();
  const closed = new Promise((r) => vpcd.conns[0].once("close", r));
  await bridge.remove();
  await closed;
  await new Promise((r) => setTimeout(r, 50));
  t.is(vpcd.conns.length, 1, "no reconnect after removal");
  t.is(log[log.length - 1], "off");
  await bridge.insert();
  while (vpcd.conns.length < 2) await new Promise((r) => setTimeout(r, 5));
  t.is(vpcd.conns.length, 2);
  await t.throwsAsync(() => bridge.insert(recordingCard().card), { message: /already inserted/ });
  await bridge.close();
  await vpcd.close();
});

test("a card that answers later: frames are answered in vpcd's order, each after the one before, and the power-on comes first", async (t) => {
  const vpcd = await fakeVpcd();
  const log: string[] = [];
  const later = <T>(v: T, ms: number) => new Promise<T>((r) => setTimeout(() => r(v), ms));
  const card: BridgedCard = {
    powerOn: () => (log.push("on"), later(Uint8Array.of(0x3b, 0x01), 30)),
    powerOff: () => void log.push("off"),
    // the first command takes longest: a bridge that did not wait would answer the second first
    transmit: (c) => (log.push(`tx ${c[1]}`), later(Uint8Array.of(c[1], 0x90, 0x00), c[1] === 1 ? 60 : 5)),
  };
  const bridge = new VpcdBridge(card, { port: vpcd.port });
  const apdus: number[] = [];
  bridge.on("apdu", (c: Uint8Array, _r: Uint8Array, micros: number) => {
    apdus.push(c[1]);
    t.true(Number.isInteger(micros) && micros >= 0);
  });
  const powers: string[] = [];
  bridge.on("power", (what: string, atr?: Uint8Array) => powers.push(`${what}${atr ? ` ${atr[1]}` : ""}`));
  const inserted = bridge.insert();
  while (vpcd.conns.length === 0) await new Promise((r) => setTimeout(r, 5));
  vpcd.send([4]); // GET ATR before the power-on finished: waits for it
  vpcd.send([0, 1, 0, 0]);
  vpcd.send([0, 2, 0, 0]);
  vpcd.send([0]);
  vpcd.send([2]);
  vpcd.send([0, 3, 0, 0]);
  await inserted;
  t.deepEqual([...(await vpcd.next())], [0x3b, 0x01]);
  t.deepEqual([...(await vpcd.next())], [1, 0x90, 0x00]);
  t.deepEqual([...(await vpcd.next())], [2, 0x90, 0x00]);
  t.deepEqual([...(await vpcd.next())], [3, 0x90, 0x00]);
  t.deepEqual(log, ["on", "tx 1", "tx 2", "off", "on", "tx 3"]);
  t.deepEqual(apdus, [1, 2, 3]);
  t.deepEqual(powers, ["power-off", "reset 1"]);
  await bridge.close();
  await vpcd.close();
});

test("CardWithdrawn: the command goes unanswered, the connection closes, and the card stays out for its pause", async (t) => {
  const vpcd = await fakeVpcd();
  let n = 0;
  const card: BridgedCard = {
    powerOn: () => Uint8Array.of(0x3b, 0x00),
    powerOff: () => undefined,
    transmit: async (c) => {
      if (n++ === 1) throw new CardWithdrawn("pulled", 60_000);
      return Uint8Array.of(c[1], 0x90, 0x00);
    },
  };
  const bridge = new VpcdBridge(card, { port: vpcd.port, initialBackoffMs: 5 });
  const withdrawn: CardWithdrawn[] = [];
  bridge.on("withdrawn", (e: CardWithdrawn) => withdrawn.push(e));
  await bridge.insert();
  vpcd.send([0, 6, 0, 0]);
  t.deepEqual([...(await vpcd.next())], [6, 0x90, 0x00]);
  const closed = new Promise((r) => vpcd.conns[0].once("close", r));
  const removed = new Promise((r) => bridge.once("removed", r));
  vpcd.send([0, 7, 0, 0]);
  await closed;
  await removed;
  t.is(withdrawn.length, 1);
  t.is(withdrawn[0].message, "pulled");
  t.false(bridge.inserted, "out of vpcd");
  // with a 5 ms backoff the bridge would have dialled again many times by now: the pause holds it
  await new Promise((r) => setTimeout(r, 100));
  t.is(vpcd.conns.length, 1, "not back during its pause");
  await bridge.close();
  await vpcd.close();
});

test("a card that cannot be powered at insertion is not inserted: the bridge retries until it can", async (t) => {
  const vpcd = await fakeVpcd();
  let tries = 0;
  const card: BridgedCard = {
    powerOn: async () => {
      if (tries++ < 2) throw new CardWithdrawn("no card in the real reader", 0);
      return Uint8Array.of(0x3b, 0x02);
    },
    powerOff: async () => undefined,
    transmit: async () => Uint8Array.of(0x90, 0x00),
  };
  const bridge = new VpcdBridge(card, { port: vpcd.port, initialBackoffMs: 5 });
  const events: string[] = [];
  bridge.on("inserted", () => events.push("inserted"));
  bridge.on("removed", () => events.push("removed"));
  await bridge.insert();
  t.is(tries, 3);
  t.deepEqual(events, ["inserted"], "no insertion or removal for the failed power-ons");
  t.is(vpcd.conns.length, 3);
  await bridge.close();
  await vpcd.close();
});

test("a listener that throws while an answer is pending: the card leaves vpcd (card-error), no unhandled rejection, and the bridge dials again", async (t) => {
  t.timeout(10_000);
  const vpcd = await fakeVpcd();
  const card: BridgedCard = {
    powerOn: () => Uint8Array.of(0x3b, 0x00),
    powerOff: () => undefined,
    transmit: async (c) => Uint8Array.of(c[1], 0x90, 0x00),
  };
  const bridge = new VpcdBridge(card, { port: vpcd.port, initialBackoffMs: 5 });
  const errors: Error[] = [];
  bridge.on("card-error", (e: Error) => errors.push(e));
  let throws = true;
  bridge.on("apdu", () => {
    if (throws) {
      throws = false;
      throw new Error("listener bug");
    }
  });
  await bridge.insert();
  const closed = new Promise((r) => vpcd.conns[0].once("close", r));
  vpcd.send([0, 8, 0, 0]);
  await closed;
  while (vpcd.conns.length < 2) await new Promise((r) => setTimeout(r, 5));
  while (!bridge.inserted) await new Promise((r) => setTimeout(r, 5));
  vpcd.send([0, 9, 0, 0]);
  t.deepEqual([...(await vpcd.next())], [9, 0x90, 0x00], "the new session answers");
  t.is(errors.length, 1);
  t.regex(errors[0].message, /listener bug/);
  await bridge.close();
  await vpcd.close();
});
