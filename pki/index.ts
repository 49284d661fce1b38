/**
 * pki's public face: the views, the validator, the PEM codec and the builders.
 * The DER reader and writer stay inside pki/: no other component reads or
 * writes DER (test/architecture.test.ts holds them to it).
 */
export * from "./errors.js";
export { parseName, normalizeText } from "./name.js";
export type { ParsedName } from "./name.js";
export { Certificate } from "./certificate.js";
export type { BasicConstraints, AuthorityKeyId } from "./certificate.js";
export type { AlgorithmId, Extension } from "./signed-envelope.js";
export { Crl } from "./crl.js";
export type { RevokedEntry, IssuingDistributionPoint } from "./crl.js";
export { OcspResponse, OcspStatus } from "./ocsp.js";
export type { SingleResponse, CertId, ResponderId } from "./ocsp.js";
export { publicKeyOf, verifySignature } from "./signed-data.js";
export type { Usage, RevocationPolicy } from "./path.js";
export type { GeneralName, GeneralNameType } from "./general-name.js";
export { showGeneralName } from "./general-name.js";
export type { NameConstraints } from "./name-constraints.js";
export type { PolicyMapping, PolicyConstraints } from "./policy-extensions.js";
export { DEFAULT_POLICY_INPUTS } from "./policy-graph.js";
export type { PolicyInputs } from "./policy-graph.js";
export type { DistributionPoint } from "./distribution-points.js";
export { Validator, defaultValidator, validate } from "./validator.js";
export type { ValidateOptions, ValidationResult, Valid, CertInput, CrlInput, OcspInput, ValidatorStats } from "./validator.js";
export { decodePem, readPemOrDer } from "./pem.js";
export { isoTime, utcParts } from "./time.js";
export { encodePem, pemToDer, splitPem } from "./pem.js";
export { OID, KU, KeyUsage } from "./oids.js";
export { CertificationRequest } from "./csr.js";
export { parseOcspRequest } from "./ocsp-request.js";
export type { OcspRequest, OcspRequestCertId } from "./ocsp-request.js";
export { algorithmIdentifier, signatureAlgorithm, rawEcdsaToDer, p256Spki, p256SpkiFromEcPoint, p256EcParams, keyIdentifier, softwareSigningKey, subjectPublicKeyBits } from "./build/keys.js";
export type { SigningKey } from "./build/keys.js";
export { encodeName, extension, ext, buildCertificate } from "./build/certificate.js";
export { csrInfo, assembleCsr, buildCsr } from "./build/csr.js";
export type { NameAttr, CertificateSpec } from "./build/certificate.js";
export { NameError, NAME_UPPER_BOUNDS, UB_EMAIL, checkText, checkMailbox, checkNameAttribute, isPrintableString } from "./build/names.js";
export type { MailboxName, StringType } from "./build/names.js";
export { buildCrl, crlFrame, crlSignatureParts } from "./build/crl.js";
export { CrlEntryWriter, crlEntry } from "./build/crl-entries.js";
export { assembleSigned } from "./build/signed.js";
export type { CrlSpec } from "./build/crl.js";
export { errorResponse, buildOcspResponse, ocspResponseData, signedOcspResponse, issuerHashes } from "./build/ocsp-response.js";
export type { CertStatusSpec, SingleResponseSpec, ResponderIdentity } from "./build/ocsp-response.js";
export { buildOcspRequest, encodeOcspRequest, nonceExtension } from "./build/ocsp-request.js";
export type { OcspIssuer } from "./build/ocsp-request.js";
