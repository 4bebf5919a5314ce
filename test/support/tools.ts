// Which external tools this machine has. Tests that need one that is missing skip with a
// printed reason (CI installs them all through test/setup-system.sh).

import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
 * and CI run first); root from running the suite as root. `root` says what the test needs root for.
 */
export function requirementsProblem(tools: readonly string[], options: { root?: string } = {}): string | null {
  const problems: string[] = [];
  const plans: string[] = [];
  if (options.root && !isRoot()) {
    problems.push('needs root');
    plans.push(`run the suite as root (sudo npm run test:all): ${options.root}`);
  }
  const missing = tools.filter((tool) => !toolAvailable(tool));
  if (missing.length > 0) {
    problems.push(`${missing.map((tool) => `'${tool}'`).join(', ')} not installed`);
    plans.push('npm run test:setup installs every tool the tests use (npm run test:all and CI run it first)');
  }
  return problems.length === 0 ? null : `${problems.join('; ')}. To run it: ${plans.join('; ')}`;
}

/**
 * Where each skip's reason is recorded, one JSON line per guard that fired: .ci/run prints the
 * reason and plan beside every skipped test of that file, not only once in the file's output.
 */
export const SKIP_REASONS_FILE = join(dirname(fileURLToPath(import.meta.url)), '../../.mesh-dns/skip-reasons.jsonl');

/** The test file whose guard is running: the first *.test.ts frame of the caller's stack. */
function callingTestFile(): string | null {
  const frame = /(\/[^\s()]*\.test\.ts)/.exec(new Error().stack ?? '');
  return frame ? frame[1]!.replace(/^file:\/\//, '') : null;
}

/** Prints `SKIPPED <what>: <reason. To run it: plan>` and records it for .ci/run's list of skipped tests. */
export function reportSkip(what: string, problem: string): void {
  console.warn(`SKIPPED ${what}: ${problem}`);
  try {
    mkdirSync(dirname(SKIP_REASONS_FILE), { recursive: true });
    appendFileSync(SKIP_REASONS_FILE, `${JSON.stringify({ file: callingTestFile(), what, problem })}\n`);
  } catch {
    // A read-only checkout: the printed line above still says it.
  }
}

/** Prints why `what` is skipped and how to run it; true when it must be skipped. */
export function skipUnless(what: string, tools: readonly string[], options: { root?: string } = {}): boolean {
  const problem = requirementsProblem(tools, options);
  if (problem) reportSkip(what, problem);
  return problem !== null;
}

/** skipUnless for one tool. */
export function skipWithout(tool: string, what: string): boolean {
  return skipUnless(what, [tool]);
}
