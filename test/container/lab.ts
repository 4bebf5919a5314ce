// Real containers for the tests: podman (Debian's), docker-compose 1.29 against podman's
// Docker-compatible API socket, and the base image node:24-bookworm-slim. On these machines
// ../shared/tools/container-lab provides the podman settings and a locally built base image
// (there is no Docker Hub); elsewhere the ordinary podman configuration and DOCKER_HOST are used.

import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/mesh-dns.ts';
import { toolAvailable } from '../support/tools.ts';

const run = promisify(execFile);

export const CONTAINER_LAB = join(REPO_ROOT, '../shared/tools/container-lab');
export const BASE_IMAGE = 'node:24-bookworm-slim';

/** The environment podman and docker-compose need (CONTAINERS_CONF, DOCKER_HOST, …). */
export const labEnv: NodeJS.ProcessEnv = { ...process.env };

/** Parses `container-lab env` output: `export A=x B=y` with shell-quoted values. */
export function parseExports(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const match of text.matchAll(/([A-Z_][A-Z0-9_]*)=((?:\\.|[^\s\\])+)/g)) values[match[1]!] = match[2]!.replace(/\\(.)/g, '$1');
  return values;
}

/** What provisions the container tests: .ci/run calls it before the suite. */
const PROVISION = 'To run it: ../shared/tools/container-lab setup (installs podman and docker-compose, builds the base image; .ci/run does this first)';

/** Null when containers can run here, else the reason they cannot and how to fix it (printed as the skip reason). */
export function containerLabProblem(): string | null {
  if (!toolAvailable('podman')) return `'podman' is not installed. ${PROVISION}`;
  if (!toolAvailable('docker-compose')) return `'docker-compose' is not installed. ${PROVISION}`;
  if (existsSync(CONTAINER_LAB)) {
    Object.assign(labEnv, parseExports(execFileSync(CONTAINER_LAB, ['env'], { encoding: 'utf8' })));
    try {
      // The API service stays running after the tests and inherits this working directory: '/'
      // outlives any checkout (conmon fails to start containers from a deleted one).
      labEnv['DOCKER_HOST'] = execFileSync(CONTAINER_LAB, ['service'], { encoding: 'utf8', env: labEnv, cwd: '/' }).trim();
    } catch (error) {
      return `the podman API socket did not start: ${(error as Error).message}. ${PROVISION}`;
    }
  } else if (!labEnv['DOCKER_HOST']) {
    return 'no DOCKER_HOST for docker-compose (and no ../shared/tools/container-lab to start podman\'s API socket). To run it: point DOCKER_HOST at a Docker-compatible API socket (e.g. `podman system service`), or run .ci/run beside ../shared/';
  }
  try {
    execFileSync('podman', ['image', 'exists', `docker.io/library/${BASE_IMAGE}`], { env: labEnv, stdio: 'ignore' });
  } catch {
    return `the base image ${BASE_IMAGE} is missing. ${PROVISION}`;
  }
  return null;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a command with the lab environment; never throws for a non-zero exit (the code is returned). */
export async function runCommand(command: string, args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  try {
    const { stdout, stderr } = await run(command, args, { env: labEnv, cwd: options.cwd ?? REPO_ROOT, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; code?: number | string };
    return { stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error), code: typeof failed.code === 'number' ? failed.code : -1 };
  }
}

/** Like runCommand, but a non-zero exit throws with the output. */
export async function mustRun(command: string, args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<string> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

export const podman = (...args: string[]) => mustRun('podman', args);

/** Image size in bytes as podman reports it (the sum of its layers). */
export async function imageSize(image: string): Promise<number> {
  return Number((await podman('image', 'inspect', image, '--format', '{{.Size}}')).trim());
}
