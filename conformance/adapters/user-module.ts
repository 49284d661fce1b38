import { pathToFileURL } from "node:url";

/** What bin/build.js states about the build it made (absent when running the sources through tsx). */
interface BuildManifest {
  dist: string;
  hooks: string;
  faces: Record<string, string>;
}
declare const CARDLOOP_BUILD: BuildManifest | undefined;

let prepared: Promise<void> | undefined;

/**
 * Imports a user's module (`--ca module:PATH`). Under tsx (tests, development)
 * that is a plain import. The built command first registers tsx, when it is
 * installed, so that a TypeScript module (the documented example is one) and
 * its imports of cardloop's sources load, and the source hooks, so that those
 * imports of cardloop's component faces reach the build's own modules rather
 * than second copies: a CaError from the module must be a CaError to the checks.
 */
export async function importUserModule(path: string): Promise<Record<string, unknown>> {
  if (typeof CARDLOOP_BUILD !== "undefined") await (prepared ??= prepareForSources(CARDLOOP_BUILD));
  return withModuleIdentity((await import(pathToFileURL(path).href)) as Record<string, unknown>, path);
}

type Create = (options: Record<string, unknown>) => unknown;

/**
 * The module with its createAdapter (top-level or on its default export)
 * returning an adapter that says what it is: the module's own identity() when
 * it has one, else "module:PATH", so that a report never names no CA at all.
 */
function withModuleIdentity(mod: Record<string, unknown>, path: string): Record<string, unknown> {
  const wrap = (create: unknown) =>
    typeof create === "function" ? async (options: Record<string, unknown>) => named(await (create as Create)(options), path) : create;
  const out: Record<string, unknown> = { ...mod, createAdapter: wrap(mod.createAdapter) };
  const def = mod.default as Record<string, unknown> | undefined;
  if (def && typeof def === "object" && typeof def.createAdapter === "function") out.default = { ...def, createAdapter: wrap(def.createAdapter) };
  return out;
}

function named(adapter: unknown, path: string): unknown {
  if (adapter === null || typeof adapter !== "object") return adapter; // resolveAdapter says what it lacks
  const a = adapter as { identity?: unknown };
  if (typeof a.identity === "function") return adapter;
  try {
    a.identity = async () => ({ software: `module:${path}` });
  } catch {
    // a frozen adapter: its identity stays unknown
  }
  return adapter;
}

async function prepareForSources(build: BuildManifest): Promise<void> {
  let tsx: { register(): unknown };
  try {
    tsx = (await import("tsx/esm/api")) as { register(): unknown };
  } catch {
    return; // without tsx, JavaScript modules still load; a .ts one fails with Node's own message
  }
  tsx.register();
  // import.meta.url is this source file's URL, in the build too (bin/build.js)
  const root = new URL("../../", import.meta.url);
  const dist = new URL(`${build.dist}/`, root);
  const faces = Object.fromEntries(Object.entries(build.faces).map(([src, out]) => [new URL(src, root).href, new URL(out, dist).href]));
  const { register } = await import("node:module");
  // registered after tsx, so it runs first and resolves through tsx
  register(new URL(build.hooks, dist), { data: { faces } });
}
