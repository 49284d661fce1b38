import test from "ava";
import { leaks } from "./secrets.js";

test("leaks: a secret as a value or as the hex of an APDU is found; a chance run of digits inside hex is not", (t) => {
  t.true(leaks('{"pin":"482913"}', "482913"));
  t.true(leaks("pin 482913.", "482913"));
  t.true(leaks("> 0020008008343832393133FFFF", "482913"), "ASCII hex, as in an unmasked VERIFY");
  t.true(leaks("code ABCD-EFGH-IJKL-MNOP issued", "ABCD-EFGH-IJKL-MNOP"));
  t.false(leaks('"signature":"3045ab482913cd"', "482913"), "inside a longer hex run: chance, not a leak");
  t.false(leaks("> 0020008008FFFFFFFFFFFFFFFF", "482913"), "masked");
});
