/** The version `engines.node` starts from: ">=20.15" gives "20.15.0". */
export function floorVersion(range?: string): string;
/** The path of the floor's `node` binary, fetched with npm the first time. */
export function floorNode(version?: string): string;
/** No build of that Node.js for this platform on the registry: the floor cannot be checked here. */
export class NoFloorBuild extends Error {}
