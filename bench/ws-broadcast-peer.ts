/**
 * The peer of dashboard.bench.ts: the least a server can do to pass a
 * publisher's batches on to websocket subscribers. It takes the same POST
 * bodies the dashboard takes (any path, no token, no validation, no store,
 * nothing parsed) and sends each body, as it is, as one text message to every
 * connected client; what clients send it is ignored. It answers `{}` (the
 * publisher then counts the whole batch as taken). It buffers without bound:
 * a client that does not read keeps every message in this process.
 *
 * Run on its own: `node --import=tsx bench/ws-broadcast-peer.ts`; it prints
 * its base URL (`http://127.0.0.1:PORT`) on stdout once it listens.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";

const server = createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    for (const ws of wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(body, { binary: false });
    res.writeHead(200, { "content-type": "application/json", "content-length": 2 });
    res.end("{}");
  });
});
server.keepAliveTimeout = 65_000;
// The same framing choice as the dashboard: no compression.
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => ws.on("error", () => undefined));
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.once("SIGTERM", () => process.exit(0));
