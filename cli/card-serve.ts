import { existsSync } from "node:fs";
import { basename } from "node:path";
import { Command } from "commander";
import { UsageError, errorMessage, toHex } from "../core/index.js";
import { CardFile, TearingCard } from "../simulator/card/index.js";
import {
  FaultyCard,
  PcscReader,
  RelayCard,
  VpcdBridge,
  faultPlanOf,
  formatVpcdEndpoint,
  loadFaultProfile,
  parseVpcdEndpoint,
  type BridgedCard,
  type FaultProfile,
  type VpcdPowerEvent,
} from "../simulator/reader/index.js";
import { TraceWriter } from "../simulator/trace/index.js";
import { cardCommand } from "./card.js";
import { action, untilStopSignal } from "./exit.js";

/**
 * `cardloop card serve --vpcd [HOST:PORT|unix:PATH] (--card card.json | --relay pcsc:READER)
 * [--record TRACE.jsonl]`: puts a card into vsmartcard's virtual reader inside
 * pcscd, so PC/SC applications and middleware see it, until SIGINT/SIGTERM.
 *
 * With --card, the card file's emulated card: the file is locked while served
 * (a second session on it is refused) and keeps every change (PIN counters,
 * keys, objects) before the card answers it. With --relay, whatever card sits
 * in the PC/SC reader READER (like vsmartcard's relay): each command goes to
 * it and its answer comes back. With --record, every exchange (masked,
 * timed) and every reader event goes to a trace, line by line. With
 * --faults, a fault profile's faults are applied on the card's side of vpcd
 * (simulator/reader/faulty-card.ts says what the host meets for each kind),
 * each one said on stderr; the profile's `timeout` holds there too (a longer
 * delay: the card leaves vpcd after `timeout` ms).
 */
export function register(program: Command): void {
  const card = cardCommand(program);
  if (card.commands.some((c) => c.name() === "serve")) return;
  card
    .command("serve")
    .description("attach a card file's card, or the card in a PC/SC reader (--relay), to pcscd through vsmartcard's vpcd until interrupted")
    .option("--card <file>", "card file: held by this process alone while served, every change saved before the card answers")
    .option("--relay <pcsc:READER>", "relay the card in this PC/SC reader instead of serving a card file (e.g. \"pcsc:ACME Reader 00 00\")")
    .option("--record <trace.jsonl>", "write every exchange (secrets masked, timed) and reader event to this trace (`cardloop card from-trace`, `cardloop replay` read it)")
    .option("--force", "with --record: overwrite an existing trace")
    .option("--faults <profile.yaml>", "inject the fault profile's faults on the card's side of vpcd (tearing only with --card)")
    .option("--vpcd [host:port|unix:path]", "vpcd endpoint (default 127.0.0.1:35963, reader \"Virtual PCD 00 00\"; 35964 is \"... 00 01\"), or a unix socket relaying to one")
    .addHelpText(
      "after",
      [
        "",
        "--faults: the profile's `timeout` (ms) is applied on the card's side: a delay longer than it is not waited out;",
        "after `timeout` ms the card leaves vpcd (the host's transmit fails, as for drop) and comes back.",
        "--record: the trace's header names as its source the relayed reader, or the card file's name.",
      ].join("\n"),
    )
    .action(action(serve));
}

interface ServeOptions {
  card?: string;
  relay?: string;
  record?: string;
  force?: boolean;
  faults?: string;
  vpcd?: string | boolean;
}

/** What is served: a card for the bridge, what to call it, and how to let go of it. */
interface Served {
  card: BridgedCard;
  label: string;
  /** The trace header's reader: where the card really is. */
  reader?: string;
  /** The trace header's source: what the exchanges came from (the relayed reader, or the card file's name). */
  source: string;
  /** After the card left vpcd: the card file saved and unlocked, or the relay's reader let go. */
  release(signal: NodeJS.Signals): Promise<void>;
}

async function serve(opts: ServeOptions): Promise<void> {
  if ((opts.card === undefined) === (opts.relay === undefined)) throw new UsageError("card serve needs --card FILE or --relay pcsc:READER (one of them)");
  if (opts.force && opts.record === undefined) throw new UsageError("--force only goes with --record");
  if (opts.record !== undefined && existsSync(opts.record) && !opts.force) throw new UsageError(`${opts.record} exists (use --force to overwrite it)`);
  const endpoint = parseVpcdEndpoint(typeof opts.vpcd === "string" ? opts.vpcd : undefined);
  const profile = opts.faults !== undefined ? loadFaultProfile(opts.faults) : undefined;
  const tears = profile?.rules.some((r) => r.fault.kind === "tearing") ?? false;
  if (tears && opts.relay !== undefined) throw new UsageError("--faults: tearing needs an emulated card (--card): a relayed card's power cannot be cut mid-write");
  // Signals are ours: the card leaves vpcd first, then the card file or the relayed reader is let go.
  const stopped = untilStopSignal();
  const opened = opts.card !== undefined ? openCardFile(opts.card, tears ? profile : undefined) : await openRelay(opts.relay!);
  const served = profile !== undefined ? withFaults(opened, profile) : opened;
  const recorder = opts.record !== undefined ? openRecorder(opts.record, served) : undefined;
  const bridge = new VpcdBridge(served.card, endpoint);
  recorder?.attach(bridge);
  const where = formatVpcdEndpoint(endpoint);
  let warned = false;
  bridge.on("retry", (err: unknown) => {
    if (warned) return;
    warned = true;
    process.stderr.write(`cardloop: vpcd at ${where} not reachable (${errorMessage(err)}); retrying until pcscd listens\n`);
  });
  let away = false;
  bridge.on("withdrawn", (err: Error) => {
    // A relayed card that is not there: said once per absence, not at every retry.
    if (away) return;
    away = true;
    process.stderr.write(`${served.label} left vpcd: ${err.message}; waiting for it\n`);
  });
  bridge.on("card-error", (err: Error) => process.stderr.write(`cardloop: ${err.message}\n`));
  bridge.on("inserted", (atr: Uint8Array) => {
    away = false;
    process.stderr.write(`${served.label} inserted in vpcd ${where} (ATR ${toHex(atr).toUpperCase()})\n`);
  });
  bridge.on("removed", () => process.stderr.write(`${served.label} removed (vpcd closed the connection); reconnecting\n`));
  bridge.insert().catch(() => undefined); // retried until stop; cancellation on stop is expected
  const signal = await stopped;
  try {
    await bridge.close();
  } finally {
    try {
      recorder?.close();
    } finally {
      await served.release(signal);
    }
  }
}

/** The served card behind the profile's faults, each fault said on stderr as it is injected. */
function withFaults(served: Served & { tear?: TearingCard }, profile: FaultProfile): Served {
  const card = new FaultyCard(served.card, faultPlanOf(profile), undefined, {
    tear: served.tear,
    ...(profile.timeout !== undefined ? { timeoutMs: profile.timeout } : {}),
    onFault: (f) => process.stderr.write(`fault: ${f.detail}\n`),
  });
  return { ...served, card };
}

function openCardFile(path: string, tearing?: FaultProfile): Served & { tear?: TearingCard } {
  if (!existsSync(path)) throw new UsageError(`no card file ${path}`);
  let failedWrite = false;
  const file = CardFile.open(path, {
    onWriteError: (err) => {
      if (failedWrite) return;
      failedWrite = true;
      process.stderr.write(`cardloop: cannot save ${path} (${errorMessage(err)}): the card answers 6581 until served again\n`);
    },
  });
  const piv = file.card;
  // A card that may lose power mid-write keeps its memory as the tearing model says, in the same card file.
  const tear = tearing
    ? file.tearing(tearing.tearing, {
        onSaveError: (err) => {
          if (!failedWrite) process.stderr.write(`cardloop: cannot save ${path} (${errorMessage(err)})\n`);
          failedWrite = true;
        },
      })
    : undefined;
  return {
    card: tear ?? piv,
    ...(tear ? { tear } : {}),
    label: `card ${piv.serial}`,
    source: basename(path),
    async release(signal) {
      file.close();
      process.stderr.write(
        failedWrite
          ? `${signal}: card ${piv.serial} released; ${path} holds its state from before the failed write\n`
          : `${signal}: card ${piv.serial} saved to ${path} (with every change) and released\n`,
      );
    },
  };
}

async function openRelay(spec: string): Promise<Served> {
  if (!spec.startsWith("pcsc:") || spec.length === "pcsc:".length) throw new UsageError(`--relay takes pcsc:READER (got "${spec}")`);
  const name = spec.slice("pcsc:".length);
  // The reader must exist now; its card may come later (the relayed card enters vpcd when it does).
  const reader = await PcscReader.open(name, { timeoutMs: 5000 });
  return {
    card: new RelayCard(reader),
    label: `relayed card in "${name}"`,
    reader: name,
    source: name,
    async release(signal) {
      // The PC/SC context is the process's: it ends with the process (keepPcscContextUntilExit).
      await reader.disconnect().catch(() => undefined);
      process.stderr.write(`${signal}: relay from "${name}" stopped\n`);
    },
  };
}

/** The trace a served card's exchanges and reader events go to, as they happen. */
function openRecorder(path: string, served: Served) {
  let writer: TraceWriter;
  try {
    writer = new TraceWriter(path, { format: "cardloop", source: served.source, ...(served.reader !== undefined ? { reader: served.reader } : {}) });
  } catch (err) {
    throw new UsageError(`cannot write the trace ${path}: ${errorMessage(err)}`);
  }
  let failed = false;
  // A trace that cannot be written must not stop the card from answering: said once, then the recording stops.
  const safely = (write: () => void) => {
    if (failed) return;
    try {
      write();
    } catch (err) {
      failed = true;
      process.stderr.write(`cardloop: recording to ${path} stopped: ${errorMessage(err)}\n`);
    }
  };
  return {
    attach(bridge: VpcdBridge<BridgedCard>) {
      bridge.on("inserted", (atr: Uint8Array) => safely(() => writer.event("insert", atr)));
      bridge.on("removed", () => safely(() => writer.event("remove")));
      bridge.on("power", (what: VpcdPowerEvent, atr?: Uint8Array) => safely(() => writer.event(what, atr)));
      bridge.on("apdu", (command: Uint8Array, response: Uint8Array, micros: number) => safely(() => writer.apdu(command, response, micros)));
    },
    close() {
      if (failed) {
        process.stderr.write(`trace ${path} is incomplete (recording stopped)\n`);
        return;
      }
      const { masked, entries } = writer.close();
      process.stderr.write(`trace ${path}: ${entries} entries, ${masked} exchanges with secrets masked\n`);
    },
  };
}
