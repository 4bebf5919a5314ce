// Which external tools this machine has. Tests that need one that is missing skip with a
// printed reason (CI installs them all through test/setup-system.sh).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function toolAvailable(tool: string): boolean {
  if (existsSync(`/usr/sbin/${tool}`) || existsSync(`/usr/bin/${tool}`)) return true;
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Prints why a test group is skipped and returns true when it must be. */
export function skipWithout(tool: string, what: string): boolean {
  const missing = !toolAvailable(tool);
  if (missing) console.warn(`SKIPPED ${what}: '${tool}' is not installed (run: npm run test:setup)`);
  return missing;
}

/** Root is needed for the namespace tests (unshare -m / -n). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
