import { importPeer } from './importPeer.ts';

const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;
let typeScriptLoaded = false;

/**
 * Statecraft runs as JavaScript; an agent module written in TypeScript is loaded through tsx, an
 * optional peer dependency, registered the first time such a module is imported.
 */
export async function loadTypeScriptSupport(file: string): Promise<void> {
  if (!TYPESCRIPT.test(file) || typeScriptLoaded) return;
  const needs = `${file} is TypeScript, and loading it needs`;
  const install = 'npm install --save-dev tsx\nOr compile the module to JavaScript and pass the .js file.';
  typeScriptLoaded = true;
  let api: { register: () => unknown };
  try {
    api = (await importPeer(() => import('tsx/esm/api'), 'tsx', needs, install)) as { register: () => unknown };
  } catch (error) {
    typeScriptLoaded = false;
    throw error;
  }
  api.register();
}
