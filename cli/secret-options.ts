/**
 * The secrets `replay` and `card from-trace` take (PIN, PUK, management key)
 * from an option or from the environment: a command line is visible to other
 * users in ps and /proc, the environment of one's own process is not.
 */
/** The PIN, PUK and management key: the option, else CARDLOOP_PIN / CARDLOOP_PUK / CARDLOOP_MANAGEMENT_KEY (an empty variable counts as unset). */
export function secretsFromEnvironment(opts: { pin?: string; puk?: string; managementKey?: string }, env: NodeJS.ProcessEnv = process.env): { pin?: string; puk?: string; managementKey?: string } {
  const from = (v: string | undefined, name: string) => v ?? (env[name] === "" ? undefined : env[name]);
  return { pin: from(opts.pin, "CARDLOOP_PIN"), puk: from(opts.puk, "CARDLOOP_PUK"), managementKey: from(opts.managementKey, "CARDLOOP_MANAGEMENT_KEY") };
}

