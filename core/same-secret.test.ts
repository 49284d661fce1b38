import test from "ava";
import fc from "fast-check";
import { sameSecret, sameShortText } from "./same-secret.js";

test("sameShortText is string equality for any texts, short, long (the hashed fallback) and across the bound", (t) => {
  const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 300 }), fc.string({ minLength: 250, maxLength: 270 }));
  t.notThrows(() =>
    fc.assert(
      fc.property(text, text, (a, b) => sameShortText(a, b) === (a === b) && sameShortText(a, a) && sameShortText(a, b) === sameSecret(a, b)),
      { numRuns: 2000 },
    ),
  );
});

test("sameShortText: a prefix, a longer text, NUL padding and an absent text never match", (t) => {
  t.false(sameShortText("alice@example.org", "alice@example.or"));
  t.false(sameShortText("alice@example.or", "alice@example.org"));
  t.false(sameShortText("ab", "ab\u0000"), "NUL past the end is not the end of the text");
  t.false(sameShortText("ab\u0000", "ab"));
  t.false(sameShortText(undefined, ""));
  t.false(sameShortText("", "x"));
  t.true(sameShortText("", ""));
  t.true(sameShortText("x".repeat(256), "x".repeat(256)));
  t.false(sameShortText("x".repeat(257), "x".repeat(256)));
});
