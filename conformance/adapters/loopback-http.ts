import { createServer, type IncomingMessage, type Server } from "node:http";
import { request } from "undici";
import { errorResponse, OcspStatus } from "../../pki/index.js";
import { CaError } from "../../simulator/ca/index.js";
import { publicUrl } from "./public-url.js";

/** DER of an OCSPResponse with status malformedRequest and no body (RFC 6960 4.2.1). */
export const MALFORMED_REQUEST = errorResponse(OcspStatus.malformedRequest);

export interface LoopbackServer {
  url: string;
  close(): Promise<void>;
}

export interface LoopbackRoutes {
  /** DER request in, DER response out. */
  ocsp?: (request: Uint8Array) => Promise<Uint8Array>;
  crl?: () => Promise<Uint8Array>;
}

const MAX_BODY = 64 * 1024;

function readBody(req: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY) {
        reject(new Error("request too large"));
        req.destroy();
      } else chunks.push(b);
    });
    req.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on("error", reject);
  });
}

/**
 * A small HTTP front for a CA whose tools work on files: POST /ocsp,
 * GET /ocsp/{base64}, GET /crl. Binds 127.0.0.1 only.
 */
export function startLoopbackServer(routes: LoopbackRoutes): Promise<LoopbackServer> {
  const server: Server = createServer(async (req, res) => {
    try {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/ocsp" && req.method === "POST" && routes.ocsp) {
        const body = await readBody(req);
        const out = await routes.ocsp(body);
        res.writeHead(200, { "content-type": "application/ocsp-response", "content-length": out.length });
        res.end(out);
        return;
      }
      if (path.startsWith("/ocsp/") && req.method === "GET" && routes.ocsp) {
        const enc = decodeURIComponent(path.slice("/ocsp/".length));
        const der = new Uint8Array(Buffer.from(enc.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
        const out = await routes.ocsp(der);
        res.writeHead(200, { "content-type": "application/ocsp-response", "content-length": out.length });
        res.end(out);
        return;
      }
      if (path === "/crl" && req.method === "GET" && routes.crl) {
        const out = await routes.crl();
        res.writeHead(200, { "content-type": "application/pkix-crl", "content-length": out.length });
        res.end(out);
        return;
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "not-found", message: `no route ${req.method} ${path}` }));
    } catch (err) {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "internal", message: (err as Error).message.split("\n")[0] }));
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/**
 * The GET URL of an OCSP request (RFC 6960 A.1): the base URL, "/", and the
 * URL-encoding of the base64 DER ("+", "/" and "=" escaped).
 */
export function ocspGetUrl(baseUrl: string, der: Uint8Array): string {
  return `${baseUrl.replace(/\/$/, "")}/${encodeURIComponent(Buffer.from(der).toString("base64"))}`;
}

/** How much of an answer's body an error message quotes. */
const BODY_QUOTE = 120;

/** The start of a body for a message: text as it is (one line), binary as hex. */
function quoteBody(body: Uint8Array): string {
  if (body.length === 0) return "empty body";
  const head = body.subarray(0, BODY_QUOTE);
  const more = body.length > head.length ? ` (${body.length} bytes)` : "";
  let text = Buffer.from(head).toString("utf8");
  if (more) text = text.replace(/\uFFFD{1,3}$/, ""); // a character cut at the quote's end is no sign of binary
  // text: valid UTF-8 without control characters other than whitespace
  const isText = !text.includes("\uFFFD") && !/[\u0000-\u0008\u000E-\u001F\u007F]/.test(text);
  return isText ? `body ${JSON.stringify(text.replace(/\s+/g, " "))}${more}` : `body (hex) ${Buffer.from(head).toString("hex")}${more}`;
}

/** What came back, for a message: the status, the content type and the start of the body. */
function answerOf(status: number, contentType: string | undefined, body: Uint8Array): string {
  return `HTTP ${status}, content-type ${contentType || "(none)"}, ${quoteBody(body)}`;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(", ") : v;
}

/**
 * No answer at all (connection refused, reset, timed out): the URL, and the
 * transport's own error as the cause, whose code says it was the transport.
 */
export class OcspTransportError extends Error {
  readonly code?: string;
  constructor(sent: string, cause: unknown) {
    const inner = cause as { message?: unknown; code?: unknown } | undefined;
    super(`${sent} got no answer: ${String(inner?.message ?? cause)}`, { cause });
    this.name = "OcspTransportError";
    if (typeof inner?.code === "string") this.code = inner.code;
  }
}

/**
 * An OCSP exchange over HTTP (RFC 6960 appendix A): POST the DER, or GET it
 * base64-encoded in the path. A failure names what was sent (the method and
 * the URL, for GET the encoded request as sent) and what came back, so that
 * the evidence tells whose fault it was.
 */
export async function ocspOverHttp(baseUrl: string, der: Uint8Array, method: "POST" | "GET" = "POST"): Promise<Uint8Array> {
  const url = method === "POST" ? baseUrl : ocspGetUrl(baseUrl, der);
  const sent = `OCSP ${method} ${publicUrl(url)}${method === "POST" ? ` (${der.length} bytes, application/ocsp-request)` : ""}`;
  let res: Awaited<ReturnType<typeof request>>;
  let body: Uint8Array;
  try {
    res =
      method === "POST"
        ? await request(url, { method: "POST", body: der, headers: { "content-type": "application/ocsp-request" } })
        : await request(url, { method: "GET" });
    body = new Uint8Array(await res.body.arrayBuffer());
  } catch (err) {
    throw new OcspTransportError(sent, err);
  }
  const contentType = headerValue(res.headers["content-type"]);
  // Some responders send an OCSPResponse (e.g. malformedRequest) with an HTTP error status: the body is the answer.
  const isOcspResponse = body.length >= 5 && body[0] === 0x30 && /ocsp-response/.test(contentType ?? "application/ocsp-response");
  if (res.statusCode !== 200 && !isOcspResponse) {
    throw new CaError(res.statusCode, "ocsp-http", `${sent} answered ${answerOf(res.statusCode, contentType, body)}`);
  }
  return body;
}
