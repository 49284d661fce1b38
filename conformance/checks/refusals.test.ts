import test from "ava";
import fc from "fast-check";
import { wrongCode } from "./refusals.js";

/**
 * wrongCode: a wrong code a CA can only refuse for being wrong. As long as
 * the right one, of the same character class at each position (separators
 * kept), never the right one, distinct for distinct i, and not of the right
 * one's making (no shared prefix, no reversal).
 */

const DIGITS = "0123456789";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const classOf = (ch: string) => (DIGITS.includes(ch) ? "digit" : UPPER.includes(ch) ? "upper" : LOWER.includes(ch) ? "lower" : `kept ${ch}`);
const isCodeChar = (ch: string) => classOf(ch).startsWith("kept") === false;

/** Codes of any shape: letters, digits and separators (and a character outside ASCII), with at least one letter or digit. */
const codes = fc
  .array(fc.constantFrom(...DIGITS, ...UPPER, ...LOWER, "-", " ", "_", ".", "é"), { minLength: 1, maxLength: 40 })
  .map((cs) => cs.join(""))
  .filter((s) => Array.from(s).some(isCodeChar));
/** Codes the embedded CA hands out: Crockford base32, XXXX-XXXX-XXXX-XXXX. */
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const crockfordCodes = fc.array(fc.constantFrom(...CROCKFORD), { minLength: 16, maxLength: 16 }).map((cs) => cs.join("").replace(/(.{4})(?!$)/g, "$1-"));

test("a wrong code is as long as the right one, of the same class at each position, separators where they were", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(codes, fc.nat({ max: 1000 }), (right, i) => {
        const wrong = wrongCode(right, i);
        const r = Array.from(right);
        const w = Array.from(wrong);
        return wrong.length === right.length && w.length === r.length && r.every((ch, at) => classOf(w[at]) === classOf(ch));
      }),
    ),
  );
});

test("a wrong code is never the right one", (t) => {
  t.notThrows(() => fc.assert(fc.property(codes, fc.nat({ max: 1000 }), (right, i) => wrongCode(right, i) !== right)));
  // the smallest shapes: one digit (9 others), one letter
  for (const right of ["5", "Z", "a", "-0-"]) for (let i = 0; i < 50; i++) t.not(wrongCode(right, i), right, `${right} ${i}`);
});

test("wrong codes 0, 1, 2 ... of one right code are distinct (as many as its shape has others)", (t) => {
  // any code has at least 9 others (a single digit): the first 9 are distinct
  fc.assert(
    fc.property(codes, (right) => {
      const wrong = Array.from({ length: 9 }, (_, i) => wrongCode(right, i));
      return new Set(wrong).size === 9;
    }),
  );
  // one digit: exactly the 9 other digits
  t.deepEqual(Array.from({ length: 9 }, (_, i) => wrongCode("5", i)).sort(), ["0", "1", "2", "3", "4", "6", "7", "8", "9"]);
  fc.assert(fc.property(crockfordCodes, (right) => new Set(Array.from({ length: 200 }, (_, i) => wrongCode(right, i))).size === 200), { numRuns: 20 });
  // and the same call is the same code (a sequence can be replayed within a run)
  t.is(wrongCode("7K3M-Q9ZX-AB2C-DEFG", 3), wrongCode("7K3M-Q9ZX-AB2C-DEFG", 3));
});

test("a wrong code of a Crockford code is one too: a CA checking the format reads it as a code", (t) => {
  t.notThrows(() =>
    fc.assert(fc.property(crockfordCodes, fc.nat({ max: 100 }), (right, i) => /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/.test(wrongCode(right, i)))),
  );
});

test("a wrong code is not of the right one's making: no common prefix but by chance, not its reversal, not a suffix added", (t) => {
  // the old wrong codes were `${right}-wrong-${i}`: a CA comparing the first 16 characters took them for the right one
  let sharedPrefix = 0;
  let sameFirst = 0;
  fc.assert(
    fc.property(crockfordCodes, fc.nat({ max: 10 }), (right, i) => {
      const wrong = wrongCode(right, i);
      if (wrong.slice(0, 9) === right.slice(0, 9)) sharedPrefix++;
      if (wrong[0] === right[0]) sameFirst++;
      return !wrong.startsWith(right) && wrong !== Array.from(right).reverse().join("");
    }),
    { numRuns: 500 },
  );
  // 8 symbols each drawn from 10 or 22: the chance of one shared 9-character prefix in 500 is below 1e-5
  t.is(sharedPrefix, 0);
  // the first character is drawn at random: about 1 in 10 to 1 in 22 match, never most of them
  t.true(sameFirst < 150, `${sameFirst} of 500 share the first character`);
});

test("a code with no letter or digit has no other of its shape: i is appended, still distinct and not the right one", (t) => {
  t.is(wrongCode("", 0), "0");
  t.not(wrongCode("--", 0), wrongCode("--", 1));
  t.throws(() => wrongCode("AB12", -1), { instanceOf: RangeError });
});
