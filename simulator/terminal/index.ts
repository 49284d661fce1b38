/** The host side: terminals that speak APDUs to cards (through a Reader) and to CAs (through a CaAdapter). */
export { PivClient, PivError } from "./piv-client.js";
export { SLOT, DEFAULT_MANAGEMENT_KEY, type KeyAlgorithm } from "./algorithms.js";
export { buildCsr, signatureScheme, type CardSigner, type CsrSubject } from "./csr.js";
export { IssuanceStation, PROFILE_SLOTS, type PersonaliseOptions, type PersonaliseResult, type ManagementAlg } from "./issuance.js";
export { RenewalKiosk, type RenewOptions, type RenewResult } from "./renewal.js";
export { MobileApp, type MobileView, type StoredCertificate } from "./mobile-app.js";
export { RelyingParty, type AuthenticationResult, type CertificateCheck, type SignedDocument } from "./relying-party.js";
export { TerminalRefusal, type RefusalReason } from "./refusal.js";
export { openSession, closeSession, verifyPin, pinRefusal, readCertificate, describeCertificate, type CardCertificate } from "./session.js";
