import { checkMailbox, checkText, NAME_UPPER_BOUNDS, NameError, OID, UB_EMAIL } from "../../pki/index.js";
import { CaError, type Holder } from "./api.js";

/**
 * The holder fields the CA writes into certificates (name -> commonName,
 * organisation -> organizationName, email -> subjectAltName), held to the
 * rules pki's builders apply (pki/build/names.ts): NFC, no control
 * characters, the X.520 upper bounds, a mailbox RFC 9598 can encode. Checked
 * once at issuance so a refused value is a 400, not a builder error, and the
 * stored card row holds the NFC form later comparisons use.
 */
export function normaliseHolder(holder: Holder): Holder {
  try {
    const out: Holder = {
      ...holder,
      name: checkText("holder.name", holder.name, NAME_UPPER_BOUNDS[OID.commonName]),
      email: checkText("holder.email", holder.email, UB_EMAIL),
    };
    checkMailbox(out.email, "holder.email");
    if (holder.organisation === undefined || holder.organisation === null) delete out.organisation; // absent, as checkHolder reads null
    else out.organisation = checkText("holder.organisation", holder.organisation, NAME_UPPER_BOUNDS[OID.organization]);
    return out;
  } catch (err) {
    if (err instanceof NameError) throw new CaError(400, "bad-name", err.message);
    throw err;
  }
}
