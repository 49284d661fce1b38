/**
 * Runs inside pcscd's private network namespace (started by harness/pcscd.ts):
 * `vpcd-relay.ts DIR PORT PCSCD_PID` listens on DIR/vpcd0.sock and DIR/vpcd1.sock
 * and pipes each accepted connection to vpcd's TCP 127.0.0.1:PORT (resp.
 * PORT+1) in the namespace, both ways. A close (or half-close) of either
 * side is passed on to the other: a card side that hangs up is a removal for vpcd. Exits when
 * pcscd or its parent shell is gone, or on SIGTERM.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { alive } from "./processes.js";

const [dir, portText, pidText] = process.argv.slice(2);
const port = Number(portText);
const pcscdPid = Number(pidText);
if (!dir || !Number.isInteger(port) || !Number.isInteger(pcscdPid)) {
  process.stderr.write("usage: vpcd-relay.ts DIR PORT PCSCD_PID\n");
  process.exit(2);
}

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

function relay(index: number): net.Server {
  const sockPath = path.join(dir, `vpcd${index}.sock`);
  fs.rmSync(sockPath, { force: true });
  // Half-closes are passed on (pipe ends the other side on "end"), so a card
  // side's FIN reaches vpcd and the card side sees its connection closed only
  // once vpcd has closed it too, as over direct TCP: by then vpcd knows.
  const server = net.createServer({ allowHalfOpen: true }, (card) => {
    const vpcd = net.connect({ host: "127.0.0.1", port: port + index, allowHalfOpen: true });
    vpcd.setNoDelay(true);
    sockets.add(card).add(vpcd);
    const close = () => {
      card.destroy();
      vpcd.destroy();
      sockets.delete(card);
      sockets.delete(vpcd);
    };
    card.on("error", close).on("close", close);
    vpcd.on("error", close).on("close", close);
    card.pipe(vpcd);
    vpcd.pipe(card);
  });
  server.listen(sockPath);
  return server;
}

function shutdown(): void {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  process.exit(0);
}

const parent = process.ppid;
servers.push(relay(0), relay(1));
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
setInterval(() => {
  if (!alive(pcscdPid) || process.ppid !== parent) shutdown();
}, 200);
