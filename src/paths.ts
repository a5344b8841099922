import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where package.json, schemas/ and runbooks/ live), from wherever this file was compiled to. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package root not found');
    dir = up;
  }
  return dir;
}

export const packageRoot = findRoot();
export const schemasDir = join(packageRoot, 'schemas');
export const runbooksDir = join(packageRoot, 'runbooks');
