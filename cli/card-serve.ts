import { existsSync } from "node:fs";
import { Command } from "commander";
import { UsageError, errorMessage } from "../core/index.js";
import { CardFile } from "../simulator/card/index.js";
import { VpcdBridge, formatVpcdEndpoint, parseVpcdEndpoint } from "../simulator/reader/index.js";
import { cardCommand } from "./card.js";
import { action, untilStopSignal } from "./exit.js";

/**
 * `cardloop card serve --vpcd [HOST:PORT|unix:PATH] --card card.json`: puts the card
 * file's card into vsmartcard's virtual reader inside pcscd, so PC/SC
 * applications and middleware see it, until SIGINT/SIGTERM. The card file is
 * locked while served (a second session on it is refused) and keeps every
 * change (PIN counters, keys, objects) before the card answers it.
 */
export function register(program: Command): void {
  const card = cardCommand(program);
  if (card.commands.some((c) => c.name() === "serve")) return;
  card
    .command("serve")
    .description("attach a card file's card to pcscd through vsmartcard's vpcd until interrupted")
    .requiredOption("--card <file>", "card file: held by this process alone while served, every change saved before the card answers")
    .option("--vpcd [host:port|unix:path]", "vpcd endpoint (default 127.0.0.1:35963, reader \"Virtual PCD 00 00\"; 35964 is \"... 00 01\"), or a unix socket relaying to one")
    .action(
      action(async (opts: { card: string; vpcd?: string | boolean }) => {
        if (!existsSync(opts.card)) throw new UsageError(`no card file ${opts.card}`);
        const endpoint = parseVpcdEndpoint(typeof opts.vpcd === "string" ? opts.vpcd : undefined);
        // Signals are ours: the card leaves vpcd first, then the lock is released (the kernel releases it at any exit too).
        const stopped = untilStopSignal();
        let failedWrite = false;
        const file = CardFile.open(opts.card, {
          onWriteError: (err) => {
            if (failedWrite) return;
            failedWrite = true;
            process.stderr.write(`cardloop: cannot save ${opts.card} (${errorMessage(err)}): the card answers 6581 until served again\n`);
          },
        });
        const piv = file.card;
        const bridge = new VpcdBridge(piv, endpoint);
        const where = formatVpcdEndpoint(endpoint);
        let warned = false;
        bridge.on("retry", (err: unknown) => {
          if (warned) return;
          warned = true;
          process.stderr.write(`cardloop: vpcd at ${where} not reachable (${errorMessage(err)}); retrying until pcscd listens\n`);
        });
        bridge.on("inserted", () => process.stderr.write(`card ${piv.serial} inserted in vpcd ${where}\n`));
        bridge.on("removed", () => process.stderr.write(`card ${piv.serial} removed (vpcd closed the connection); reconnecting\n`));
        bridge.insert().catch(() => undefined); // retried until stop; cancellation on stop is expected
        const signal = await stopped;
        try {
          await bridge.close();
        } finally {
          file.close();
        }
        process.stderr.write(
          failedWrite
            ? `${signal}: card ${piv.serial} released; ${opts.card} holds its state from before the failed write\n`
            : `${signal}: card ${piv.serial} saved to ${opts.card} (with every change) and released\n`,
        );
      }),
    );
}
