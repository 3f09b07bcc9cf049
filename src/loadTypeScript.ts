import { UserError } from './errors.ts';

const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;
let typeScriptLoaded = false;

/**
 * Statecraft runs as JavaScript; an agent module written in TypeScript is loaded through tsx, an
 * optional peer dependency, registered the first time such a module is imported.
 */
export async function loadTypeScriptSupport(file: string): Promise<void> {
  if (!TYPESCRIPT.test(file) || typeScriptLoaded) return;
  typeScriptLoaded = true;
  let api: { register: () => unknown };
  try {
    api = (await import('tsx/esm/api')) as { register: () => unknown };
  } catch (error) {
    typeScriptLoaded = false;
    throw new UserError(
      `${file} is TypeScript, and loading it needs tsx, which is not installed. Install it with: npm install --save-dev tsx\n` +
        'Or compile the module to JavaScript and pass the .js file.',
      { cause: error },
    );
  }
  api.register();
}
