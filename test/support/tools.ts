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

/** Root is needed for the namespace tests (unshare -m / -n). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Why a test cannot run here and what makes it run, or null when it can. The plan is always one
 * of two: the tools come from test/setup-system.sh (`npm run test:setup`, which `npm run test:all`
 * and CI run first); root from running the suite as root, as CI does.
 */
export function requirementsProblem(tools: readonly string[], options: { root?: boolean } = {}): string | null {
  const problems: string[] = [];
  const plans: string[] = [];
  if (options.root && !isRoot()) {
    problems.push('needs root');
    plans.push('run the suite as root, as CI does (sudo npm run test:all)');
  }
  const missing = tools.filter((tool) => !toolAvailable(tool));
  if (missing.length > 0) {
    problems.push(`${missing.map((tool) => `'${tool}'`).join(', ')} not installed`);
    plans.push('npm run test:setup installs every tool the tests use (npm run test:all and CI run it first)');
  }
  return problems.length === 0 ? null : `${problems.join('; ')}. To run it: ${plans.join('; ')}`;
}

/** Prints why `what` is skipped and how to run it; true when it must be skipped. */
export function skipUnless(what: string, tools: readonly string[], options: { root?: boolean } = {}): boolean {
  const problem = requirementsProblem(tools, options);
  if (problem) console.warn(`SKIPPED ${what}: ${problem}`);
  return problem !== null;
}

/** skipUnless for one tool. */
export function skipWithout(tool: string, what: string): boolean {
  return skipUnless(what, [tool]);
}
