/**
 * What a bulk-revocation load run (`cardloop load revoke`, issue 13: not
 * built yet) is to put in its run log for the dashboard and the reports:
 * `metric.sample` events with these names, and run.started with kind "load"
 * and meta.ca. Declared here, where the driver (conformance) and the readers
 * (reports, dashboard) can all import it; today only the dashboard's load
 * view reads it.
 */
export const LOAD_METRICS = {
  /** Revocations acknowledged per second over the last interval; labels.phase. */
  throughput: "load.throughput",
  /** Latency percentiles (ms) of all requests so far. */
  latencyP50: "load.latency.p50",
  latencyP99: "load.latency.p99",
  /** One sampled serial's delay (ms) from acknowledgement until OCSP answered revoked. */
  propagationOcsp: "load.propagation.ocsp",
  /** One sampled serial's delay (ms) from acknowledgement until the CRL listed it. */
  propagationCrl: "load.propagation.crl",
  /** Requests that failed so far (count); labels.class (timeout, 4xx reason, 5xx, reset). */
  errors: "load.errors",
} as const;
