import test from "ava";
import { secretsFromEnvironment } from "./secret-options.js";

test("secrets: an option wins over CARDLOOP_*, a variable fills a missing option, an empty variable is unset", (t) => {
  const env = { CARDLOOP_PIN: "111111", CARDLOOP_PUK: "", CARDLOOP_MANAGEMENT_KEY: "00".repeat(24) };
  t.deepEqual(secretsFromEnvironment({}, env), { pin: "111111", puk: undefined, managementKey: "00".repeat(24) });
  t.deepEqual(secretsFromEnvironment({ pin: "222222", puk: "33333333", managementKey: "ab" }, env), { pin: "222222", puk: "33333333", managementKey: "ab" });
  t.deepEqual(secretsFromEnvironment({}, {}), { pin: undefined, puk: undefined, managementKey: undefined });
});
