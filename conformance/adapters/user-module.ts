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
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
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
