import type { Expectation, Scenario, Step, StepArgs } from "../format.js";

/**
 * A shrunk exploration as a scenario file `cardloop run` replays: the cast,
 * the steps with the model's predictions as `expect`, and a header that says
 * where it came from. Nothing in it depends on the wall clock or on chance:
 * the same seed writes the same bytes.
 */
export interface ScenarioHeader {
  seed: number;
  /** fast-check's counterexample path, and the commands' replayPath. */
  path: string;
  replayPath?: string;
  ca: string;
  failing: { step: number; label: string; difference: string };
  firstFailure: { generated: number; executed: number };
  shrunk: { steps: number; shrinks: number };
  /** The file's own name, for the replay command. */
  fileName: string;
}

const ARG_ORDER: readonly (keyof StepArgs)[] = ["card", "document", "role", "code", "reason", "certificate", "pin", "puk", "newPin", "times", "by", "to", "at", "content"];

export function scenarioYaml(s: Scenario, steps: readonly Step[], h: ScenarioHeader): string {
  const lines: string[] = [
    "# Found by `cardloop explore`: a random lifecycle whose outcome differed from the policy model, shrunk by fast-check.",
    `# seed ${h.seed}, counterexample path "${h.path}"${h.replayPath ? `, commands replayPath "${h.replayPath}"` : ""}`,
    `#   (fc.assert(property, { seed: ${h.seed}, path: "${h.path}" }) with fc.commands(..., { replayPath }) reproduces it)`,
    `# CA target: ${h.ca}`,
    `# first failing run: ${h.firstFailure.generated} commands generated, ${h.firstFailure.executed} steps run up to the failure;`,
    `#   shrunk to ${h.shrunk.steps} steps in ${h.shrunk.shrinks} shrinks`,
    `# failing step ${h.failing.step} (${oneLine(h.failing.label)}): ${oneLine(h.failing.difference)}`,
    `# replay: cardloop run --ca ${h.ca} ${h.fileName}`,
    `name: ${scalar(s.name)}`,
    `seed: ${h.seed}`,
    `start: ${s.start.toISOString()}`,
    `policy: ${scalar(s.policyRef)}`,
    // A target the file format cannot name (module:PATH) is given on the command line, as the header says.
    ...(/^[a-z][a-z0-9-]*$/.test(h.ca) || /^https?:\/\/\S+$/.test(h.ca) ? [`ca: ${h.ca}`] : []),
    "reader: memory",
    "actors:",
    "  organisations:",
    ...s.organisations.map((o) => `    - { id: ${o.id}, name: ${scalar(o.name)} }`),
    "  holders:",
    ...s.holders.map(
      (x) =>
        `    - { id: ${x.id}, name: ${scalar(x.name)}, email: ${x.email}${x.organisation ? `, organisation: ${x.organisation}` : ""}, answers: { ${Object.entries(x.answers)
          .map(([k, v]) => `${k}: ${scalar(v)}`)
          .join(", ")} } }`,
    ),
    "  cards:",
    ...s.cards.map((c) => `    - { id: ${c.id}, holder: ${c.holder}, expires: ${c.expires.toISOString()}, pin: ${JSON.stringify(c.pin)} }`),
    "steps:",
  ];
  for (const st of steps) {
    lines.push(`  - ${st.action}: ${args(st.args)}`);
    if (st.label) lines.push(`    label: ${scalar(st.label)}`);
    lines.push(`    expect: ${expectation(st.expect)}`);
  }
  return lines.join("\n") + "\n";
}

function args(a: StepArgs): string {
  const parts: string[] = [];
  for (const k of ARG_ORDER) {
    const v = a[k];
    if (v === undefined) continue;
    if (k === "by") parts.push(`by: ${duration(v as number)}`);
    else if (v instanceof Date) parts.push(`${k}: ${v.toISOString()}`);
    else if (k === "pin" || k === "puk" || k === "newPin") parts.push(`${k}: ${JSON.stringify(v)}`);
    else parts.push(`${k}: ${scalar(v)}`);
  }
  return `{ ${parts.join(", ")} }`;
}

function expectation(e: Expectation): string {
  return `{ ${Object.entries(e)
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? `[${v.map(scalar).join(", ")}]` : scalar(v)}`)
    .join(", ")} }`;
}

/** Whole hours or days, as the format writes durations. */
function duration(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${ms / 3_600_000}h`;
}

/** A plain scalar when YAML reads it back as the same string, number or boolean; else quoted. */
function scalar(v: unknown): string {
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const s = String(v);
  return /^[A-Za-z][A-Za-z0-9._-]*$/.test(s) && !/^(true|false|yes|no|on|off|null|y|n)$/i.test(s) ? s : JSON.stringify(s);
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ");
}
