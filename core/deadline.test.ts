import test from "ava";
import { withDeadline } from "./deadline.js";

test("withDeadline: a promise that settles in time keeps its value or its error", async (t) => {
  t.is(await withDeadline(Promise.resolve(7), 1000, () => new Error("late")), 7);
  await t.throwsAsync(withDeadline(Promise.reject(new Error("own")), 1000, () => new Error("late")), { message: "own" });
});

test("withDeadline: a promise that never settles becomes the deadline's error", async (t) => {
  await t.throwsAsync(withDeadline(new Promise<never>(() => undefined), 20, () => new Error("insertion did not complete")), { message: "insertion did not complete" });
});
