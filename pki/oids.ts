/**
 * The one table of object identifiers pki/ reads and writes (RFC 5280, RFC 6960,
 * RFC 5480, RFC 8017, RFC 2985), and the KeyUsage bits. The readers and the
 * builders both take their OIDs from here, so a name means one OID everywhere.
 * (signed-data.ts keeps its own signature-scheme tables: they map OIDs to
 * algorithms, they do not name them.)
 */
export const OID = {
  // Algorithms.
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  secp384r1: "1.3.132.0.34",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  sha256WithRsa: "1.2.840.113549.1.1.11",
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",

  // Name attributes.
  commonName: "2.5.4.3",
  surname: "2.5.4.4",
  serialNumber: "2.5.4.5",
  country: "2.5.4.6",
  locality: "2.5.4.7",
  stateOrProvince: "2.5.4.8",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  title: "2.5.4.12",
  givenName: "2.5.4.42",
  dnQualifier: "2.5.4.46",
  pseudonym: "2.5.4.65",
  domainComponent: "0.9.2342.19200300.100.1.25",
  emailAddress: "1.2.840.113549.1.9.1",

  // Certificate extensions.
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  issuerAltName: "2.5.29.18",
  basicConstraints: "2.5.29.19",
  crlDistributionPoints: "2.5.29.31",
  certificatePolicies: "2.5.29.32",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  nameConstraints: "2.5.29.30",
  policyMappings: "2.5.29.33",
  policyConstraints: "2.5.29.36",
  inhibitAnyPolicy: "2.5.29.54",
  anyPolicy: "2.5.29.32.0",
  freshestCrl: "2.5.29.46",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  subjectInfoAccess: "1.3.6.1.5.5.7.1.11",

  // CRL and CRL entry extensions.
  crlNumber: "2.5.29.20",
  crlReason: "2.5.29.21",
  holdInstructionCode: "2.5.29.23",
  invalidityDate: "2.5.29.24",
  deltaCrlIndicator: "2.5.29.27",
  issuingDistributionPoint: "2.5.29.28",
  certificateIssuer: "2.5.29.29",
  expiredCertsOnCrl: "2.5.29.60",

  // otherName types (subjectAltName).
  smtpUtf8Mailbox: "1.3.6.1.5.5.7.8.9",

  // Extended key usages.
  anyExtendedKeyUsage: "2.5.29.37.0",
  kpServerAuth: "1.3.6.1.5.5.7.3.1",
  kpClientAuth: "1.3.6.1.5.5.7.3.2",
  kpCodeSigning: "1.3.6.1.5.5.7.3.3",
  kpEmailProtection: "1.3.6.1.5.5.7.3.4",
  kpOcspSigning: "1.3.6.1.5.5.7.3.9",
  /** Microsoft smart card logon (the EKU Windows asks of a logon certificate). */
  msSmartCardLogon: "1.3.6.1.4.1.311.20.2.2",
  /** PKINIT client authentication (RFC 4556). */
  pkinitClientAuth: "1.3.6.1.5.2.3.4",
  /** NIST SP 800-73 / FIPS 201 PIV card authentication (id-PIV-cardAuth). */
  pivCardAuth: "2.16.840.1.101.3.6.8",
  /** PIV content signing (id-PIV-content-signing), the EKU of the key that signs a CHUID. */
  pivContentSigning: "2.16.840.1.101.3.6.7",

  // Access methods and OCSP.
  adOcsp: "1.3.6.1.5.5.7.48.1",
  adCaIssuers: "1.3.6.1.5.5.7.48.2",
  ocspBasic: "1.3.6.1.5.5.7.48.1.1",
  ocspNonce: "1.3.6.1.5.5.7.48.1.2",
  ocspNoCheck: "1.3.6.1.5.5.7.48.1.5",
} as const;

/** KeyUsage bit positions (RFC 5280 4.2.1.3), as the writer's namedBits takes them. */
export const KU = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;

/** The same bits as masks over the number the certificate view's `keyUsage` returns (bit 0 = digitalSignature). */
export const KeyUsage = Object.freeze(Object.fromEntries(Object.entries(KU).map(([name, bit]) => [name, 1 << bit]))) as {
  readonly [K in keyof typeof KU]: number;
};
