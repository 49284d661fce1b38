/**
 * A card session in its own process, for the abuse tests (card-kill.test.ts):
 * `node --import=tsx card-worker.ts CARD_FILE`. It prints "ready" once loaded,
 * then follows one command per stdin line:
 *   open         take the card file (CardFile.open): prints "held PID", or the
 *                refusal on stderr and exit 2, as the CLI does
 *   wrong N      N wrong VERIFYs; after each answer "sw XXXX" (N = 0: until killed)
 *   close        release the card file and exit 0
 * Every answer line is written (synchronously: stdout is a pipe) before the
 * next command goes to the card, so "sw" lines are what the card reported.
 */
import { createInterface } from "node:readline";
import { CardFile, CardFileBusyError } from "../../simulator/card/index.js";

const SELECT_PIV = Uint8Array.from([0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08]);
/** VERIFY PIN "999999": never the test cards' PIN. */
const WRONG_VERIFY = Uint8Array.from([0x00, 0x20, 0x00, 0x80, 0x08, 0x39, 0x39, 0x39, 0x39, 0x39, 0x39, 0xff, 0xff]);

const path = process.argv[2];
let file: CardFile | undefined;

function sw(res: Uint8Array): string {
  return Buffer.from(res.subarray(res.length - 2)).toString("hex").toUpperCase();
}

function handle(line: string): void {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === "open") {
    try {
      file = CardFile.open(path);
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(err instanceof CardFileBusyError ? 2 : 3);
    }
    file.card.powerOn();
    file.card.transmit(SELECT_PIV);
    process.stdout.write(`held ${process.pid}\n`);
  } else if (cmd === "wrong") {
    const n = Number(arg);
    for (let i = 0; n === 0 || i < n; i++) process.stdout.write(`sw ${sw(file!.card.transmit(WRONG_VERIFY))}\n`);
  } else if (cmd === "close") {
    file?.close();
    process.exit(0);
  }
}

createInterface({ input: process.stdin }).on("line", handle);
process.stdout.write("ready\n");
