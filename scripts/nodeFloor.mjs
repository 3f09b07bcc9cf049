// The Node.js that package.json's `engines.node` names as the lowest supported, fetched once through
// npm (the registry publishes each Node.js build as a package, node-<platform>-<arch>) into
// node_modules/.cache, so that the tests can run Statecraft on it. Prints the binary's path:
//   "$(node scripts/nodeFloor.mjs)" bin/statecraft.js --help
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const PLATFORMS = { linux: 'linux', darwin: 'darwin' };

/** No build of that Node.js for this platform on the registry: the floor cannot be checked here. */
export class NoFloorBuild extends Error {}

/** The version `engines.node` starts from: ">=20.15" gives "20.15.0". Any other form of range is refused. */
export function floorVersion(range = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines?.node) {
  const match = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(range ?? '');
  if (!match) throw new Error(`package.json engines.node is ${JSON.stringify(range)}: write it as ">=MAJOR.MINOR" or ">=MAJOR.MINOR.PATCH", the lowest version that runs every command.`);
  return `${match[1]}.${match[2]}.${match[3] ?? 0}`;
}

/** The path of the floor's `node` binary, fetched with npm the first time (about 40 MB). */
export function floorNode(version = floorVersion()) {
  const platform = PLATFORMS[process.platform];
  if (!platform) throw new NoFloorBuild(`No Node.js build package for ${process.platform}: the floor can be checked on Linux and macOS.`);
  const name = `node-${platform}-${process.arch}`;
  const dir = join(root, 'node_modules/.cache/statecraft', `${name}-${version}`);
  const binary = join(dir, 'bin/node');
  if (existsSync(binary)) return binary;
  mkdirSync(join(root, 'node_modules/.cache/statecraft'), { recursive: true });
  const work = mkdtempSync(join(root, 'node_modules/.cache/statecraft', 'fetch-'));
  try {
    let packed;
    try {
      [packed] = JSON.parse(execFileSync('npm', ['pack', `${name}@${version}`, '--json', '--pack-destination', work], { cwd: work, encoding: 'utf8', stdio: 'pipe' }));
    } catch (error) {
      // Not every version is published for every platform (20.15.0 is for linux-x64, not for arm64 or macOS).
      if (/E404|ETARGET/.test(`${error.stdout}${error.stderr}`)) throw new NoFloorBuild(`The registry has no ${name}@${version}: the Node.js floor cannot be checked on this platform.`);
      throw error;
    }
    execFileSync('tar', ['-xzf', join(work, packed.filename), '-C', work, 'package/bin/node']);
    chmodSync(join(work, 'package/bin/node'), 0o755);
    // Renamed into place whole, so that a fetch cut short leaves nothing a later run would take for the binary.
    renameSync(join(work, 'package'), dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return binary;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) console.log(floorNode());
