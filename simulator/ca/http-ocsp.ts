import type { IncomingMessage, ServerResponse } from "node:http";
import { errorResponse, OcspStatus } from "../../pki/index.js";

/** An OCSP request is a few hundred bytes; RFC 6960 sets no bound, this one keeps a flood's cost per request small. */
const MAX_OCSP_REQUEST = 64 * 1024;

/**
 * What the OCSP path needs of the CA: DER in, DER out; never throws. A
 * promise (never rejected) for an answer signed off the event loop; the
 * cached ones come back synchronously, without a promise's cost.
 */
export type OcspAnswerer = (request: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/**
 * The OCSP hot path: plain node:http, no closures beyond the body's (see
 * bench/ca-ocsp.bench.ts). Its request slot (the per-client limit) is taken
 * and released by the server around it (http-limits.ts), without a closure.
 */
export function handleOcsp(answer: OcspAnswerer, req: IncomingMessage, res: ServerResponse): void {
  if (req.method === "POST") {
    // Declared too large: answer at once and close, rather than read megabytes to throw them away.
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > MAX_OCSP_REQUEST) {
      res.shouldKeepAlive = false;
      return sendOcsp(res, errorResponse(OcspStatus.malformedRequest));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_OCSP_REQUEST) chunks.push(c);
    });
    req.on("end", () => {
      if (size > MAX_OCSP_REQUEST) return sendOcsp(res, errorResponse(OcspStatus.malformedRequest));
      reply(res, answer(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    });
    req.on("error", () => res.destroy());
    return;
  }
  if (req.method === "GET") {
    const path = (req.url ?? "").slice("/ocsp/".length).split("?")[0];
    let der: Buffer;
    try {
      // RFC 6960 A.1: base64 of the DER request, then URL-encoded. Accept the url-safe alphabet too.
      der = Buffer.from(decodeURIComponent(path).replace(/-/g, "+").replace(/_/g, "/"), "base64");
    } catch {
      return sendOcsp(res, errorResponse(OcspStatus.malformedRequest));
    }
    return reply(res, answer(der));
  }
  res.writeHead(405, { "content-type": "application/json", allow: "GET, POST" });
  res.end(JSON.stringify({ error: "method-not-allowed", message: "OCSP accepts GET and POST" }));
}

function reply(res: ServerResponse, out: Uint8Array | Promise<Uint8Array>): void {
  if (out instanceof Uint8Array) sendOcsp(res, out);
  else void out.then((body) => sendOcsp(res, body));
}

function sendOcsp(res: ServerResponse, body: Uint8Array): void {
  res.writeHead(200, { "content-type": "application/ocsp-response", "content-length": body.length });
  res.end(body);
}
