import { createServer, type IncomingMessage, type Server } from "node:http";
import { request } from "undici";
import { errorResponse, OcspStatus } from "../../pki/index.js";
import { CaError } from "../../simulator/ca/index.js";

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

/** An OCSP exchange over HTTP (RFC 6960 appendix A): POST the DER, or GET it base64-encoded in the path. */
export async function ocspOverHttp(baseUrl: string, der: Uint8Array, method: "POST" | "GET" = "POST"): Promise<Uint8Array> {
  const res =
    method === "POST"
      ? await request(baseUrl, { method: "POST", body: der, headers: { "content-type": "application/ocsp-request" } })
      : await request(`${baseUrl.replace(/\/$/, "")}/${encodeURIComponent(Buffer.from(der).toString("base64"))}`, { method: "GET" });
  const body = new Uint8Array(await res.body.arrayBuffer());
  // Some responders send an OCSPResponse (e.g. malformedRequest) with an HTTP error status: the body is the answer.
  const isOcspResponse = body.length >= 5 && body[0] === 0x30 && /ocsp-response/.test(String(res.headers["content-type"] ?? "application/ocsp-response"));
  if (res.statusCode !== 200 && !isOcspResponse) {
    throw new CaError(res.statusCode, "ocsp-http", `OCSP responder answered HTTP ${res.statusCode}: ${Buffer.from(body).toString("utf8").slice(0, 200)}`);
  }
  return body;
}
