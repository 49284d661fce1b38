import test from "ava";
import { request } from "node:http";
import type { Socket } from "node:net";
import { SeededRandom, VirtualClock } from "../../core/index.js";
import { EmbeddedCa } from "./embedded-ca.js";
import { startCaServer } from "./http.js";

/**
 * GET /crl lends the CRL's buffer to the response (no copy): it must be
 * released whatever happens to the connection, also when the client went
 * away while the CRL was being built (review R1 B1: "close" had fired before
 * the handler listened for it, and the buffer stayed leased for good).
 */
test("GET /crl aborted by the client during the build still releases its lease", async (t) => {
  const clock = new VirtualClock("2026-03-01T10:00:00Z");
  const ca = await EmbeddedCa.open({ clock, random: new SeededRandom(5), kdfLog2N: 4, crlScheduleMs: 0 });
  t.teardown(() => ca.close());
  let serverSocketClosed!: Promise<void>;
  let asked!: () => void;
  const askedP = new Promise<void>((r) => (asked = r));
  let released = 0;
  // The build "takes" until the server has seen the connection close: the abort lands mid-build, every time.
  const backend = Object.create(ca) as EmbeddedCa;
  backend.servedCrl = async () => {
    asked();
    await serverSocketClosed;
    await new Promise((r) => setImmediate(r));
    const lent = await ca.servedCrl();
    return {
      der: lent.der,
      release: () => {
        released++;
        lent.release();
      },
    };
  };
  const srv = await startCaServer(backend, { port: 0 });
  t.teardown(() => srv.close());
  srv.server.on("connection", (s: Socket) => (serverSocketClosed = new Promise((r) => s.once("close", () => r()))));
  const req = request(srv.url + "/crl");
  req.on("error", () => undefined);
  req.end();
  await askedP;
  req.destroy();
  for (let i = 0; i < 200 && released === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(released, 1, "the lease was released once");
  const pool = (ca as unknown as { s: { crls: { buffers: { pool: Array<{ leases: number }> } } } }).s.crls.buffers.pool;
  t.true(pool.every((b) => b.leases === 0), "no buffer stays leased");
});
