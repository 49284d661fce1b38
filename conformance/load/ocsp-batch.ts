/*
 * How many CertIDs the load run puts in one OCSP request, after an exchange:
 * shared by the propagation polls and the completeness check, so both adapt
 * to a responder the same way.
 */

/**
 * Halved when the responder refused a request of `asked` CertIDs (it may cap them: the embedded CA's cap is 64),
 * 1 once it answered fewer than asked (some answer the first only); unchanged otherwise.
 */
export function nextOcspBatch(batch: number, asked: number, outcome: { refused: boolean; answered: number }): number {
  if (asked <= 1) return batch;
  if (outcome.refused) return Math.min(batch, Math.ceil(asked / 2));
  if (outcome.answered < asked) return 1;
  return batch;
}
