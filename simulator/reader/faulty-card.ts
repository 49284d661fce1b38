import { toHex, type Random } from "../../core/index.js";
import type { Tearable, TearOutcome } from "../card/index.js";
import { FaultPlan, instructionName, type Fault, type FaultRule } from "./fault.js";
import { CardWithdrawn, type BridgedCard } from "./vpcd.js";

export interface FaultyCardOptions {
  /** The emulated card, for `tearing` (a TearingCard): without it a plan that tears is refused. */
  tear?: Tearable;
  /** How long a card a `remove` fault pulled stays out of vpcd. Default 1000 ms. */
  removePauseMs?: number;
  /**
   * How long a card stays out after a drop, a lost answer or a tear. Default
   * 600 ms: longer than pcscd's presence poll (400 ms), so pcscd sees the card
   * leave and come back instead of a card that silently lost its state.
   */
  lostContactPauseMs?: number;
  /** Called for every fault injected, with one line saying what the host meets. */
  onFault?: (fault: InjectedCardFault) => void;
  /**
   * The profile's `timeout` (ms): a `delay` longer than this is not waited
   * out; after `timeoutMs` the card leaves vpcd as for drop (the host's
   * transmit fails), as a host that gave up would see it.
   */
  timeoutMs?: number;
}

export interface InjectedCardFault {
  exchange: number;
  fault: Fault;
  ins: number;
  detail: string;
  tear?: TearOutcome;
}

/**
 * The card side of fault injection: a card served through vpcd (`card serve
 * --faults`) with a FaultPlan's faults applied to it, so any host behind
 * pcscd (OpenSC, a browser, a vendor's middleware) meets them. The plan is
 * the one FaultyReader applies on the host side; what the host sees differs
 * only where vpcd forces it to (vpcd waits for an answer without a timeout,
 * so an answer that never comes is a connection closed):
 *
 * - sw: the card's answer is replaced by the status word (the command ran);
 * - delay: the answer leaves after `ms`; with `timeoutMs` shorter than
 *   that, the card leaves vpcd after `timeoutMs` instead (as drop);
 * - drop: the command never reaches the card and the card leaves vpcd:
 *   SCardTransmit fails (pcscd: SCARD_E_NOT_TRANSACTED; OpenSC says "APDU
 *   transmit failed"), pcscd sees the card removed, and it comes back after
 *   `lostContactPauseMs` as a new insertion (the host reconnects);
 * - lose-answer: as drop, after the card ran the command;
 * - remove: as drop, and the card stays out for `removePauseMs`;
 * - tearing: the card loses power during the command's write
 *   (`Tearable.tearDuring`), then leaves vpcd as for drop; it comes back
 *   powered from what its memory kept.
 */
export class FaultyCard implements BridgedCard {
  readonly plan: FaultPlan;
  private readonly tear?: Tearable;
  private readonly removePauseMs: number;
  private readonly lostContactPauseMs: number;
  private readonly onFault?: (fault: InjectedCardFault) => void;
  private readonly timeoutMs?: number;
  /** Pending delays: a power-off or close ends them at once (a delay must not hold `card serve` after SIGTERM). */
  private readonly waits = new Set<{ timer: NodeJS.Timeout; cancel: () => void }>();

  constructor(
    private readonly inner: BridgedCard,
    rules: FaultRule[] | FaultPlan,
    random?: Random,
    opts: FaultyCardOptions = {},
  ) {
    this.plan = rules instanceof FaultPlan ? rules : new FaultPlan(rules, random);
    this.tear = opts.tear;
    this.removePauseMs = opts.removePauseMs ?? 1000;
    this.lostContactPauseMs = opts.lostContactPauseMs ?? 600;
    this.onFault = opts.onFault;
    this.timeoutMs = opts.timeoutMs;
    if (this.plan.tears && this.tear === undefined) throw new RangeError("tearing needs an emulated card, not a relayed one");
  }

  powerOn(): Uint8Array | Promise<Uint8Array> {
    return this.inner.powerOn();
  }

  reset(): Uint8Array | Promise<Uint8Array> {
    return this.inner.reset ? this.inner.reset() : this.inner.powerOn();
  }

  powerOff(): void | Promise<void> {
    this.cancelWaits();
    return this.inner.powerOff();
  }

  /** Ends every pending delay: its transmit fails with CardWithdrawn. */
  cancelWaits(): void {
    for (const w of [...this.waits]) w.cancel();
  }

  /** Waits `ms`, unless a power-off comes first (then rejects with CardWithdrawn). The timer never keeps the process alive. */
  private wait(ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = {
        timer: setTimeout(() => {
          this.waits.delete(w);
          resolve();
        }, ms),
        cancel: () => {
          clearTimeout(w.timer);
          this.waits.delete(w);
          reject(new CardWithdrawn(`${what}: the card was powered off during an injected delay`, 0));
        },
      };
      w.timer.unref();
      this.waits.add(w);
    });
  }

  transmit(command: Uint8Array): Uint8Array | Promise<Uint8Array> {
    const decided = this.plan.next(command);
    // No fault: the card's own answer, synchronously when the card answers so.
    if (!decided) return this.inner.transmit(command);
    return this.inject(command, decided.exchange, decided.fault);
  }

  private async inject(command: Uint8Array, n: number, fault: Fault): Promise<Uint8Array> {
    const ins = command.length >= 2 ? command[1] : -1;
    const what = instructionName(ins);
    const said = (detail: string, tear?: TearOutcome) => this.onFault?.({ exchange: n, fault, ins, detail: `exchange ${n} (${what}): ${detail}`, ...(tear ? { tear } : {}) });
    const gone = (why: string, pauseMs = this.lostContactPauseMs) => new CardWithdrawn(`injected fault "${fault.kind}" at exchange ${n} (${what}): ${why}`, pauseMs);
    switch (fault.kind) {
      case "sw": {
        await this.inner.transmit(command);
        const sw = Uint8Array.of(fault.sw >> 8, fault.sw & 0xff);
        said(`the answer replaced by status word ${toHex(sw).toUpperCase()}`);
        return sw;
      }
      case "delay": {
        const answer = await this.inner.transmit(command);
        if (this.timeoutMs !== undefined && fault.ms > this.timeoutMs) {
          said(`answer delayed ${fault.ms} ms, longer than the profile's timeout of ${this.timeoutMs} ms: after ${this.timeoutMs} ms the card left vpcd (the host's transmit fails) and came back`);
          await this.wait(this.timeoutMs, `exchange ${n} (${what})`);
          throw gone(`no answer within ${this.timeoutMs} ms`);
        }
        said(`answer delayed ${fault.ms} ms`);
        await this.wait(fault.ms, `exchange ${n} (${what})`);
        return answer;
      }
      case "drop":
        said("the command never reached the card; the card left vpcd (the host's transmit fails) and came back");
        throw gone("command dropped");
      case "lose-answer":
        await this.inner.transmit(command);
        said("the card ran the command; its answer was lost: the card left vpcd (the host's transmit fails) and came back");
        throw gone("answer lost");
      case "remove":
        said(`card removed before the command; back after ${this.removePauseMs} ms`);
        throw gone("card removed", this.removePauseMs);
      case "tearing": {
        const outcome = this.tear!.tearDuring(command, { write: fault.write ?? 0 });
        const kept = !outcome.wrote ? "it wrote nothing" : `its memory kept the ${outcome.persisted} state${outcome.fields?.length ? ` (${outcome.fields.join(", ")} changed)` : ""}`;
        said(`the card lost power during the command; ${kept}; it left vpcd and came back`, outcome);
        throw gone("power lost");
      }
    }
  }
}
