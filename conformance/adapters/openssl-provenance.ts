import { REVOCATION_REASONS } from "../../core/index.js";
import type { Provenance } from "../../simulator/ca/index.js";
import { CRL_ENTRY_DOCTORING, INDEX_DOCTORING, OPENSSL_REASONS } from "./openssl-index.js";
import type { OpensslOptions } from "./openssl.js";

/**
 * What the OpenSSL adapter says of how it obtains each artefact: the
 * commands it runs (file names are its directory's), and what it makes
 * itself: the renewal always, a CRL or an OCSP answer from a doctored index
 * when a fault option asks for one. Kept in step with openssl.ts, whose
 * commands these are.
 */
export function opensslProvenance(opts: OpensslOptions): Provenance {
  return { ...lifecycleProvenance(opts), ...crlProvenance(opts), ...ocspProvenance(opts) };
}

/** Reasons `openssl ca -revoke` cannot record: the adapter refuses them (400). */
const UNRECORDABLE = REVOCATION_REASONS.filter((r) => !OPENSSL_REASONS[r]);

function lifecycleProvenance(opts: OpensslOptions): Provenance {
  const honour = opts.honourCardExpiry ?? true;
  const offset = opts.notBeforeOffsetSeconds ?? 0;
  const sign = (profile: string, csr: string, out: string) =>
    `openssl ca -batch -config ca.cnf -extensions ${profile} -notext -in ${csr} -out ${out}` +
    (offset ? ` -startdate <now + ${offset} s>` : "") +
    (honour ? " [-enddate <card expiry, when earlier than the validity>]" : "");
  return {
    issuance: {
      by: "ca",
      how: sign("authentication|signature", "request.csr", "certificate.pem"),
      note: honour ? "the card-expiry cap is the -enddate the adapter passes (openssl ca knows no card)" : "the card's expiry is not passed on (honourCardExpiry: false)",
    },
    renewal: {
      by: "adapter",
      how: `${sign("<old certificate's profile>", "new.csr", "new.pem")}; openssl ca -config ca.cnf -revoke newcerts/<OLD SERIAL>.pem -crl_reason superseded`,
      note: "openssl ca has no renewal: the adapter signs the new request with the old certificate's profile, then revokes the old certificate as superseded; it asks for no proof of the old key and refuses (409) to renew a revoked certificate",
    },
    revocation: {
      by: "ca",
      how: "openssl ca -config ca.cnf -revoke newcerts/<SERIAL>.pem -crl_reason <reason>",
      note: `reasons openssl ca cannot record (${UNRECORDABLE.join(", ")}) are refused by the adapter (400)`,
    },
    status: {
      by: "ca",
      how: "the row of index.txt for <SERIAL> (V or R, the revocation time and reason), read by the adapter",
      note: "what `openssl ca -config ca.cnf -status <SERIAL>` reads; the adapter parses the file itself",
    },
  };
}

function crlProvenance(opts: OpensslOptions): Provenance {
  const crl = opts.crl ?? {};
  const entries = crl.entries ?? "faithful";
  const times = crl.stale ? "-crl_lastupdate <two days ago> -crl_nextupdate <a day ago>" : `-crlsec ${crl.validitySeconds ?? 86400}`;
  const copy = CRL_ENTRY_DOCTORING[entries];
  const how = `openssl ca -config ca.cnf${copy ? " -name CA_crl" : ""} -gencrl ${times} -out crl.pem`;
  const said = [
    (crl.regenerate ?? "on-request") === "never" ? "made once at start and served unchanged (crl.regenerate: never)" : "made afresh for every fetch",
    "served at /crl by the adapter's 127.0.0.1 front (the certificates' CRL distribution point)",
    ...(crl.number === "absent" ? ["no crlnumber configured: openssl ca writes no CRL number"] : []),
    ...(crl.aki === false ? ["no crl_extensions configured: no authorityKeyIdentifier"] : []),
    ...(crl.stale ? ["dated two days back, expired a day ago (crl.stale)"] : []),
  ];
  const doctored = [
    ...(copy ? [`from a copy of index.txt the adapter ${copy} (index-crl.txt; crl.entries: ${entries})`] : []),
    ...(crl.number === "reset" ? ["the adapter rewrites crlnumber to 1000 before every -gencrl (crl.number: reset)"] : []),
  ];
  const note = [...doctored, ...said].join("; ");
  return {
    crl: { by: doctored.length ? "adapter" : "ca", how, note },
    "crl-publication": {
      by: "adapter",
      how: (crl.regenerate ?? "on-request") === "never" ? "once, at start" : `${how}, run by the adapter on every fetch`,
      note: "openssl ca publishes nothing by itself: when a revocation reaches the CRL is the adapter's doing here, a deployment's own schedule (cron) in the field",
    },
  };
}

function ocspProvenance(opts: OpensslOptions): Provenance {
  const o = opts.ocsp ?? {};
  const signer = o.signer ?? "delegated";
  const [cert, key] = signer === "ca" ? ["ca.pem", "ca-key.pem"] : ["ocsp.pem", "ocsp-key.pem"];
  const index = o.index ?? "live";
  const doctored = INDEX_DOCTORING[index];
  const how = `openssl ocsp -index ${doctored ? "index-ocsp.txt" : "index.txt"} -CA ca.pem -rsigner ${cert} -rkey ${key} -reqin request.der -respout response.der -nmin ${o.validityMinutes ?? 60}`;
  const note = [
    ...(doctored ? [`the adapter answers from a copy of index.txt ${doctored} (ocsp.index: ${index}), not from the CA's records`] : ["OpenSSL's own responder code over the CA's own index, one process per request"]),
    "the adapter carries the HTTP (POST /ocsp, GET /ocsp/{base64} on its 127.0.0.1 front, where `openssl ocsp -port` would listen on every interface) and answers a request openssl cannot read with malformedRequest itself",
    ...(signer === "ca" ? ["signed with the CA's key (ocsp.signer: ca)"] : []),
    ...(signer === "rogue" ? ["signed by a responder certificate nobody in this hierarchy issued (ocsp.signer: rogue)"] : []),
  ].join("; ");
  return {
    ocsp: { by: doctored ? "adapter" : "ca", how, note },
    "ocsp-publication": { by: doctored ? "adapter" : "ca", how: "openssl ocsp reads the index on every request", note: "a revocation recorded in index.txt is answered on the next request" },
  };
}
