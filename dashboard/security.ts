import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { UsageError, errorMessage } from "../core/index.js";
import { parseDashboardUrl } from "./protocol.js";

/**
 * The dashboard's small security kernel: the publish token (where it comes
 * from, how it is compared), the Host check against DNS rebinding, the Origin
 * check on websocket upgrades (a page on another origin must not read the
 * stream), and the headers every response carries.
 */

/** Where a token is kept between starts, inside the runs directory. */
export const TOKEN_FILE = ".dashboard-token";

/** 128 bits in base64url: 22 characters. */
const MIN_TOKEN_CHARS = 22;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Refuses (UsageError) a token too short to guess-proof or not in base64url; `source` names where it came from. */
export function checkToken(token: string, source: string): string {
  if (token.length < MIN_TOKEN_CHARS || !BASE64URL.test(token)) {
    // The token itself is never part of the message: it is a secret even when it is a bad one.
    throw new UsageError(`${source}: a dashboard token must be at least ${MIN_TOKEN_CHARS} base64url characters (A-Z a-z 0-9 - _)`);
  }
  return token;
}

/** 32 random bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * The publish token: `fromEnv` (CARDLOOP_DASHBOARD_TOKEN, read by the CLI) if
 * given, else the one kept in `<runsDir>/.dashboard-token`, else a new one
 * written there with mode 0600 so drivers on this machine can keep using it
 * across restarts.
 */
export function resolveToken(runsDir: string, fromEnv?: string): string {
  if (fromEnv !== undefined && fromEnv !== "") return checkToken(fromEnv, "CARDLOOP_DASHBOARD_TOKEN");
  const file = join(runsDir, TOKEN_FILE);
  const kept = readKept(file);
  if (kept !== undefined) return checkToken(kept, file);
  const token = generateToken();
  try {
    mkdirSync(runsDir, { recursive: true });
    // "wx": two dashboards starting at once on one directory must not overwrite each other's token.
    writeFileSync(file, token + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      const other = readKept(file);
      if (other !== undefined) return checkToken(other, file);
    }
    throw new UsageError(`cannot keep the dashboard token in ${file}: ${errorMessage(err)}`);
  }
  return token;
}

function readKept(file: string): string | undefined {
  try {
    const text = readFileSync(file, "utf8").trim();
    return text === "" ? undefined : text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`cannot read the dashboard token in ${file}: ${errorMessage(err)}`);
  }
}

/** The bearer token of an Authorization header (RFC 6750 2.1: the scheme is case-insensitive). */
export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(authorization ?? "");
  return m ? m[1] : undefined;
}

/** The host part of a Host header (lower case, brackets kept for IPv6), without the port. */
export function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(":");
  return colon < 0 ? h : h.slice(0, colon);
}

/** The port a Host header names: the digits after the host, or 80 (http's) when it names none; NaN when malformed. */
function hostPort(hostHeader: string): number {
  const h = hostHeader.trim().toLowerCase();
  const rest = h.slice(hostName(h).length);
  if (rest === "") return 80;
  return /^:\d{1,5}$/.test(rest) ? Number(rest.slice(1)) : NaN;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Whether a request's Host header names this server. DNS rebinding needs a
 * name: a page on attacker.example whose name resolves to this machine sends
 * Host: attacker.example (and gets 421), so only names that are surely ours
 * pass, whatever address the server listens on (0.0.0.0 included): the
 * loopback names and addresses, an IP address (v4, or v6 in brackets) with
 * the server's `port`, the --host it listens on, and the host of its
 * --public-url (a proxy in front of it that passes the Host on). Any other
 * name reaches the dashboard through --public-url.
 */
export function hostAllowed(hostHeader: string | undefined, listenHost: string, port: number, publicUrl?: string): boolean {
  if (hostHeader === undefined || hostHeader === "") return false;
  const name = hostName(hostHeader);
  if (LOOPBACK.has(name) || name === bracketed(listenHost.toLowerCase())) return true;
  if (publicUrl !== undefined && name === new URL(publicUrl).hostname) return true; // WHATWG: lower case, IPv6 bracketed
  const address = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
  const literal = name.startsWith("[") ? isIP(address) === 6 : isIP(address) === 4;
  return literal && hostPort(hostHeader) === port;
}

function bracketed(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * Whether a websocket upgrade may proceed. Without Origin (a non-browser
 * client): yes. From a browser: when the page's origin is the --public-url's
 * (a TLS proxy may also rewrite Host, so only the configured origin says who
 * the page is), or when the Origin names the host:port the Host header names,
 * over http or https (a proxy that terminates TLS and passes Host on: the
 * page is https, the hop to this server http). The scheme is left out of the
 * second comparison on purpose: what the Origin check keeps out is another
 * site's page, and another site has another host.
 */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined, publicUrl?: string): boolean {
  if (origin === undefined) return true;
  const given = origin.trim().toLowerCase();
  if (publicUrl !== undefined && given === new URL(publicUrl).origin) return true;
  if (hostHeader === undefined || hostHeader === "") return false;
  const m = /^https?:\/\/(.+)$/.exec(given);
  return m !== null && m[1] === hostHeader.trim().toLowerCase();
}

/** The --public-url as the server uses it (parseDashboardUrl's rule: the dashboard's origin, with "/"); anything else is a usage error naming `source`. */
export function checkPublicUrl(value: string, source = "--public-url"): string {
  const parsed = parseDashboardUrl(value, source);
  if ("error" in parsed) throw new UsageError(parsed.error);
  return parsed.url;
}

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Headers on every response, errors and 404s included. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-resource-policy": "same-origin",
});
