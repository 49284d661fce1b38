import { SystemClock, type Clock } from "../../core/index.js";
import { EmbeddedCa, startCaServer, type CaServer, type EmbeddedCaOptions } from "../../simulator/ca/index.js";

export interface EmbeddedAdapterOptions extends Omit<EmbeddedCaOptions, "clock"> {
  clock?: Clock;
  /**
   * Also serve the CA on 127.0.0.1 (ephemeral port) so that the URLs written
   * into certificates (AIA, CDP) answer, as they would in a deployment.
   */
  serve?: boolean;
}

/**
 * The embedded reference CA, in-process. It implements CaAdapter itself; this
 * wrapper only chooses throwaway defaults (in memory, a cheaper code KDF) and
 * owns the optional loopback server.
 */
export async function createEmbeddedAdapter(options: EmbeddedAdapterOptions = {}): Promise<EmbeddedCa> {
  const { serve, ...rest } = options;
  const ca = await EmbeddedCa.open({
    kdfLog2N: options.dataDir ? undefined : 10, // codes of a throwaway CA need no costly KDF
    ...rest,
    clock: options.clock ?? new SystemClock(),
  });
  if (!serve) return ca;
  let server: CaServer | undefined;
  try {
    server = await startCaServer(ca, { host: "127.0.0.1", port: 0 });
  } catch (err) {
    await ca.close();
    throw err;
  }
  const close = ca.close.bind(ca);
  ca.close = async () => {
    await server!.close();
    await close();
  };
  return ca;
}
