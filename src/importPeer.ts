import { UserError } from './errors.ts';

/** Whether `error` says that the package `name` itself cannot be found (not a module it imports in turn). */
function isMissing(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return typeof message === 'string' && (message.includes(`'${name}'`) || message.includes(`'${name}/`) || message.includes(`"${name}"`));
}

/**
 * Imports an optional peer dependency (`load` is a literal `import('name')`, so that tools which
 * follow imports see it). When the package is not installed, throws a UserError that says what needs
 * it and the command that installs it: `${needs} the ${name} package, which is not installed. Install
 * it with: ${install}`. Any other failure to load it is thrown as it is.
 * @example
 * const { default: pg } = await importPeer(() => import('pg'), 'pg', 'PostgreSQL stores need');
 */
export async function importPeer<T>(load: () => Promise<T>, name: string, needs: string, install = `npm install ${name}`): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!isMissing(error, name)) throw error;
    throw new UserError(`${needs} the ${name} package, which is not installed. Install it with: ${install}`, { cause: error });
  }
}
