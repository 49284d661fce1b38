/**
 * Module hooks for a user's adapter module run by the built command (see
 * user-module.ts): an import of one of cardloop's component faces (an
 * index.ts, simulator/ca/api.ts) resolves to the build's copy, so the module
 * and cardloop share one CaError class. Runs on Node's loader thread: it
 * imports nothing of cardloop's.
 */
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
type NextResolve = (specifier: string, context: unknown) => Promise<ResolveResult>;

let faces = new Map<string, string>();

/** `faces`: a source file's URL -> the URL of the build's module for it. */
export function initialize(data: { faces: Record<string, string> }): void {
  faces = new Map(Object.entries(data.faces));
}

export async function resolve(specifier: string, context: unknown, nextResolve: NextResolve): Promise<ResolveResult> {
  const resolved = await nextResolve(specifier, context);
  const built = faces.get(resolved.url);
  return built ? { url: built, format: "module", shortCircuit: true } : resolved;
}
