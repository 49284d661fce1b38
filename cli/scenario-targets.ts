import { SystemClock, UsageError, errorMessage } from "../core/index.js";
import { registerCaTarget, type OpenedCa } from "../scenarios/index.js";

/**
 * The CA targets a scenario run can use beyond the scenarios' own "embedded":
 * registered by the commands that run scenarios (`run`, `explore`), once per
 * process, before the first scenario opens its CA.
 */
export interface ScenarioTargetOptions {
  /** --ca-config: the served CA's tokens (URL targets). */
  caConfig?: string;
}

/** conformance's resolveAdapter, loaded when the targets are registered (a command that runs no scenario never loads conformance). */
type ResolveAdapter = typeof import("../conformance/index.js").resolveAdapter;

export async function registerScenarioTargets(opts: ScenarioTargetOptions): Promise<void> {
  await registerHttpCaTarget(opts.caConfig);
  // Read once, now: a bad file is one line and exit 2 before anything runs; each adapter judges its keys when it opens.
  const { readCaConfig, resolveAdapter } = await import("../conformance/index.js");
  const config = readCaConfig(opts.caConfig);
  registerModuleCaTarget(config, resolveAdapter);
  registerRealTimeCaTargets(config, resolveAdapter);
}

/**
 * `--ca openssl` and `--ca cfssl`: the shipped adapters (conformance's
 * resolveAdapter, as certify takes them), one per scenario run, closed with
 * it; each starts and stops its own CA processes. They keep real time
 * (`openssl ca` and `cfssl` date certificates, revocations and CRLs by the
 * system clock), so the adapter gets the system's clock, not the scenario's.
 * A scenario that starts before the CA's time (`now`) is moved forward by
 * whole days until it no longer does (scenarios/engine.ts), one that starts
 * later keeps its start; the CA cannot follow a step that moves the clock past
 * that start (advanceTo refuses it), which `explore` knows from its
 * capabilities (virtualClock: false) and never generates. --ca-config is the
 * adapter's options, read now (a bad file: one line, exit 2) and checked
 * against the adapter's keys when the first run opens it.
 */
function registerRealTimeCaTargets(config: Record<string, unknown>, resolveAdapter: ResolveAdapter): void {
  registerCaTarget(
    (target) => target === "openssl" || target === "cfssl",
    async (target, opts): Promise<OpenedCa> => {
      const clock = new SystemClock();
      let ca;
      try {
        ca = await resolveAdapter(target, config, clock, opts.policy);
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`CA target ${target} did not start: ${errorMessage(err)}`);
      }
      // The engine calls this first with the run's start (shifted by whole days when it was before the CA's time); a
      // later step that moves the scenario's clock past it is one the CA cannot follow: the step errs, saying so,
      // rather than judging the CA at a time it never saw.
      let start: number | undefined;
      const advanceTo = async (time: Date): Promise<void> => {
        start ??= time.getTime();
        if (time.getTime() > start) {
          throw new Error(`CA target ${target} keeps real time and cannot follow the scenario to ${time.toISOString()}: use it with scenarios that do not move the clock`);
        }
      };
      return { ca, now: clock.now(), advanceTo };
    },
  );
}

/**
 * `--ca module:PATH`: a user's CaAdapter module (`createAdapter(options)`, as
 * certify takes it, through conformance's resolveAdapter), given the
 * --ca-config mapping and the scenario's virtual clock: the CA's time moves
 * with the scenario, so expiry and renewal play out as with the embedded CA.
 * One adapter per scenario run, closed with it. The --ca-config file is read
 * now (a bad file: one line, exit 2, before anything runs); the module checks
 * its keys when it declares them.
 */
function registerModuleCaTarget(config: Record<string, unknown>, resolveAdapter: ResolveAdapter): void {
  registerCaTarget(
    (target) => target.startsWith("module:"),
    async (target, opts): Promise<OpenedCa> => ({ ca: await resolveAdapter(target, config, opts.clock, opts.policy) }),
  );
}

/**
 * A served embedded CA (`cardloop ca serve --virtual-clock`) through the HTTP
 * CaAdapter, for `--ca http://...` or a scenario file's `ca: http://...`.
 * Scenarios move time, so the served CA must let its clock be moved: a
 * scenario that starts before the CA's time is moved forward by whole days
 * until it no longer does (scenarios/engine.ts), and the CA's clock is moved
 * to the run's start and along with each step that moves the scenario's
 * clock. Called once per process (the scenarios know only the embedded CA
 * themselves). `--ca-config` (the served CA's raToken, to issue, and
 * operatorToken, for operator steps) is checked as a served CA's when the
 * first URL target opens, once (exit 2 when it does not fit; an unreadable or
 * non-YAML file is refused at registration). Only URL and module targets get
 * it: the embedded CA of a scenario has its own tokens.
 */
async function registerHttpCaTarget(caConfig: string | undefined): Promise<void> {
  // The file's keys are judged as a served CA's only when a URL target opens: the same --ca-config may be a
  // module:PATH adapter's, with keys of its own (registerScenarioTargets reads the file before anything runs).
  let config: ReturnType<typeof import("../conformance/index.js").readHttpCaConfig> | undefined;
  registerCaTarget(
    (target) => /^https?:\/\//.test(target),
    async (url): Promise<OpenedCa> => {
      const { HttpCa, readHttpCaConfig } = await import("../conformance/index.js");
      config ??= caConfig === undefined ? {} : readHttpCaConfig(caConfig);
      const base = url.replace(/\/$/, "");
      let ca;
      try {
        ca = await HttpCa.connect({ ...config, url: base });
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`CA target ${base}: ${errorMessage(err)}`);
      }
      const clock = (await (await fetch(`${base}/api/v1/clock`)).json()) as { now?: string; virtual?: boolean };
      if (!clock.virtual || !clock.now) {
        await ca.close();
        throw new UsageError(`CA target ${base} keeps real time, and scenarios move time: serve it with \`cardloop ca serve --virtual-clock\``);
      }
      return {
        ca,
        now: new Date(clock.now),
        shared: true,
        advanceTo: async (time) => {
          // Moving the CA's time is the operator's: the token from --ca-config.
          const headers: Record<string, string> = { "content-type": "application/json" };
          const operatorToken = ca.credentials?.().operatorToken;
          if (operatorToken) headers.authorization = `Bearer ${operatorToken}`;
          const res = await fetch(`${base}/api/v1/clock`, { method: "POST", headers, body: JSON.stringify({ to: time.toISOString() }) });
          if (!res.ok) throw new Error(`CA at ${base} refused to move its clock to ${time.toISOString()}: HTTP ${res.status} ${await res.text()}`);
        },
      };
    },
  );
}
