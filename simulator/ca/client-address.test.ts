import test from "ava";
import type { IncomingMessage } from "node:http";
import { clientAddress, trustedProxySet } from "./client-address.js";

const req = (remoteAddress: string, forwardedFor?: string) =>
  ({ socket: { remoteAddress }, headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor } }) as unknown as IncomingMessage;
const none = trustedProxySet();

test("the socket's address, with IPv4-mapped IPv6 as IPv4; X-Forwarded-For ignored unless the peer is a trusted proxy", (t) => {
  t.is(clientAddress(req("127.0.0.2"), none), "ip:127.0.0.2");
  t.is(clientAddress(req("::ffff:10.1.2.3"), none), "ip:10.1.2.3");
  t.is(clientAddress(req("10.0.0.9", "203.0.113.7"), none), "ip:10.0.0.9", "anyone can write the header");
});

test("IPv6 counts per /64: one host's whole allocation is one source", (t) => {
  t.is(clientAddress(req("2001:db8:1:2::1"), none), "ip:2001:db8:1:2::/64");
  t.is(clientAddress(req("2001:DB8:1:2:ffff:ffff:ffff:ffff"), none), "ip:2001:db8:1:2::/64");
  t.is(clientAddress(req("2001:db8::1"), none), "ip:2001:db8:0:0::/64");
  t.is(clientAddress(req("::1"), none), "ip:0:0:0:0::/64");
});

test("behind trusted proxies: the last hop that is not a trusted proxy; garbage ends the trust", (t) => {
  const proxies = trustedProxySet(["10.0.0.1", "10.0.0.2"]);
  t.is(clientAddress(req("10.0.0.1", "203.0.113.7"), proxies), "ip:203.0.113.7");
  // the client may have written hops of its own before the proxies' (spoofed): only the proxies' own are believed
  t.is(clientAddress(req("10.0.0.1", "198.51.100.1, 203.0.113.7, 10.0.0.2"), proxies), "ip:203.0.113.7");
  t.is(clientAddress(req("10.0.0.1", "203.0.113.7, not-an-address"), proxies), "ip:10.0.0.1");
  t.is(clientAddress(req("10.0.0.1"), proxies), "ip:10.0.0.1", "no header: the proxy itself");
  t.is(clientAddress(req("10.0.0.1", "2001:db8:5:6::9"), proxies), "ip:2001:db8:5:6::/64");
});
