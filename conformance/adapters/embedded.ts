import { SystemClock, type Clock } from "../../core/index.js";
import { EMBEDDED_CA_SOFTWARE, EmbeddedCa, startCaServer, type CaIdentity, type CaServer, type EmbeddedCaOptions, type Provenance } from "../../simulator/ca/index.js";

export interface EmbeddedAdapterOptions extends Omit<EmbeddedCaOptions, "clock"> {
  clock?: Clock;
  /**
   * Also serve the CA on 127.0.0.1 (ephemeral port) so that the URLs written
   * into certificates (AIA, CDP) answer, as they would in a deployment.
   */
  serve?: boolean;
}

/** The embedded CA as certify's adapter: the CA itself, saying what it is and that it makes everything itself. */
export type EmbeddedAdapter = EmbeddedCa & { identity(): Promise<CaIdentity>; provenance(): Provenance };

/**
 * Everything is the CA's own: certify calls the CA's methods in this process
 * (with `serve: true` the server is only there for the URLs in certificates).
 */
function embeddedProvenance(): Provenance {
  const inProcess = "in process, no HTTP";
  return {
    issuance: { by: "ca", how: "EmbeddedCa.issue({csrPem, profile, holder, cardExpiry, raToken}); many at once: EmbeddedCa.issueMany([...])", note: inProcess },
    renewal: { by: "ca", how: "EmbeddedCa.renewalChallenge(serial), then EmbeddedCa.renew(serial, {csrPem, challenge, proof})", note: inProcess },
    revocation: { by: "ca", how: "EmbeddedCa.revoke({serial, reason, role, code | answers + operatorToken})", note: inProcess },
    status: { by: "ca", how: "EmbeddedCa.status(serial)", note: inProcess },
    crl: { by: "ca", how: "EmbeddedCa.crl()", note: inProcess },
    "crl-publication": { by: "ca", how: "the CA rebuilds its CRL when a status changes (the store announces it)", note: inProcess },
    "ocsp-publication": { by: "ca", how: "the responder answers from the CA's store on every request", note: inProcess },
    ocsp: {
      by: "ca",
      how: "EmbeddedCa.ocsp(request DER)",
      note: `${inProcess}: POST and GET are one call here; certify --ca http://URL (cardloop ca serve) judges the HTTP transport`,
    },
  };
}

/**
 * The embedded reference CA, in-process. It implements CaAdapter itself; this
 * wrapper only chooses throwaway defaults (in memory, a cheaper code KDF),
 * owns the optional loopback server, and says what the CA is.
 */
export async function createEmbeddedAdapter(options: EmbeddedAdapterOptions = {}): Promise<EmbeddedAdapter> {
  const { serve, ...rest } = options;
  const ca = await EmbeddedCa.open({
    kdfLog2N: options.dataDir ? undefined : 10, // codes of a throwaway CA need no costly KDF
    ...rest,
    clock: options.clock ?? new SystemClock(),
  });
  let server: CaServer | undefined;
  if (serve) {
    try {
      server = await startCaServer(ca, { host: "127.0.0.1", port: 0 });
    } catch (err) {
      await ca.close();
      throw err;
    }
    const close = ca.close.bind(ca);
    ca.close = async () => {
      await server!.close();
      await close();
    };
  }
  // what the served CA answers at GET /api/v1/info, and where it is served
  const identity: CaIdentity = { ...EMBEDDED_CA_SOFTWARE, ...(server ? { url: server.url } : {}) };
  return Object.assign(ca, { identity: async () => identity, provenance: embeddedProvenance });
}
