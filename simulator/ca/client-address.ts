import type { IncomingMessage } from "node:http";
import { isIPv4, isIPv6, type Socket } from "node:net";

const PEER_KEY = Symbol("cardloop.peerKey");

/**
 * Who a request comes from, for every per-source limit (requests in flight,
 * the lockout, the failed-check budget, the audit's rate limit): one answer,
 * computed once per request.
 *
 * - Behind a TLS terminator every socket is the proxy's, and one attacker
 *   would spend every holder's budget: from a trusted proxy's socket the
 *   client is the last X-Forwarded-For hop that is not itself a trusted
 *   proxy (the hops before it are the client's own claims). Without trusted
 *   proxies the header is ignored: anyone can write it.
 * - An IPv6 host is usually given a whole /64: counted per /64, not per
 *   address, or one host would be 2^64 sources.
 */
export function clientAddress(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  if (trustedProxies.size === 0) {
    // Without trusted proxies the answer is the peer's alone: worked out once per connection, not per request.
    const socket = req.socket as Socket & { [PEER_KEY]?: string };
    return (socket[PEER_KEY] ??= sourceKey(normalise(socket.remoteAddress ?? "")));
  }
  const peer = normalise(req.socket.remoteAddress ?? "");
  if (!trustedProxies.has(peer)) return sourceKey(peer);
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((h) => normalise(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i];
    if (!isIPv4(hop) && !isIPv6(hop)) break; // garbage in the chain: trust nothing before it
    if (!trustedProxies.has(hop)) return sourceKey(hop);
  }
  return sourceKey(peer);
}

/** The trusted proxies as `clientAddress` compares them. */
export function trustedProxySet(addresses: readonly string[] = []): ReadonlySet<string> {
  return new Set(addresses.map(normalise));
}

/** An IPv4-mapped IPv6 address as IPv4; IPv6 lower-case. */
function normalise(address: string): string {
  const a = address.toLowerCase();
  return a.startsWith("::ffff:") && isIPv4(a.slice(7)) ? a.slice(7) : a;
}

/** "ip:" and the address, or for IPv6 its /64. */
function sourceKey(address: string): string {
  return `ip:${isIPv6(address) ? `${prefix64(address)}::/64` : address || "unknown"}`;
}

/** The first four groups of an IPv6 address, expanded ("2001:db8::1" -> "2001:db8:0:0"). */
function prefix64(address: string): string {
  const [head, tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = address.includes("::") && tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right] : left;
  return groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":");
}
