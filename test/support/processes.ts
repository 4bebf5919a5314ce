// Starts real processes for tests, waits until they answer, and stops them by pid.
//
// Every process started here is tracked, so a test file ends with
//   afterAll(stopAllProcesses)
// and nothing outlives it even when a test fails half-way.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * When a started process counts as ready: a TCP port or URL that answers, or a line it prints
 * (for processes the test cannot reach over loopback, such as one inside a network namespace).
 */
export type Readiness = { port: number; host?: string } | { url: string } | { output: RegExp };

export interface StartProcessOptions {
  /** Short label for error messages. */
  name: string;
  command: string;
  args?: readonly string[];
  /** The complete environment of the child (nothing is inherited unless passed). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  ready: Readiness;
  readyTimeoutMs?: number;
}

export interface StartedProcess {
  name: string;
  pid: number;
  /** Combined stdout and stderr so far (the last 256 KiB), for assertions and failure messages. */
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_LIMIT = 256 * 1024;
const running = new Set<StartedProcess>();

export async function startProcess(options: StartProcessOptions): Promise<StartedProcess> {
  const child = spawn(options.command, options.args ?? [], {
    env: options.env ?? {},
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);

  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      resolve({ code, signal });
    });
    // A spawn failure (ENOENT, EACCES) emits 'error' and never 'exit'.
    child.once('error', (error) => {
      hasExited = true;
      append(Buffer.from(`spawn error: ${error.message}\n`));
      resolve({ code: null, signal: null });
    });
  });

  const started: StartedProcess = {
    name: options.name,
    pid: child.pid ?? -1,
    output: () => output,
    exited,
    stop: (graceMs = 3000) => stopChild(child, exited, () => hasExited, graceMs).finally(() => running.delete(started)),
  };
  running.add(started);

  try {
    await waitUntilReady(options.ready, options.readyTimeoutMs ?? 15_000, () => hasExited, () => output);
  } catch (error) {
    await started.stop();
    throw new Error(`${options.name} (pid ${started.pid}) did not become ready: ${(error as Error).message}\n--- output ---\n${output}`);
  }
  return started;
}

/** Stops every process started by this module that is still running. For afterAll. */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((process) => process.stop()));
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>, hasExited: () => boolean, graceMs: number): Promise<void> {
  if (hasExited() || child.pid === undefined) return;
  signal(child.pid, 'SIGTERM');
  const timer = sleep(graceMs).then(() => 'timeout' as const);
  if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout') {
    signal(child.pid, 'SIGKILL');
    await exited;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    // ESRCH: it exited between the check and the signal.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function waitUntilReady(ready: Readiness, timeoutMs: number, hasExited: () => boolean, output: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'not tried';
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error('process exited before it was ready');
    const problem = 'output' in ready
      ? (ready.output.test(output()) ? null : `no output matching ${String(ready.output)}`)
      : 'url' in ready ? await probeUrl(ready.url) : await probePort(ready.port, ready.host ?? '127.0.0.1');
    if (problem === null) return;
    lastProblem = problem;
    await sleep(50);
  }
  throw new Error(`not ready after ${timeoutMs} ms (${lastProblem})`);
}

async function probeUrl(url: string): Promise<string | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.ok ? null : `HTTP ${response.status}`;
  } catch (error) {
    return (error as Error).message;
  }
}

function probePort(port: number, host: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('connect timeout');
    });
    socket.once('error', (error) => resolve(error.message));
  });
}

/** Waits until a TCP port answers (or throws after timeoutMs). */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  await waitUntilReady({ port, host }, timeoutMs, () => false);
}

/**
 * A port that was free a moment ago on `host`: bind port 0, read it, close. Another process can
 * take it before the caller binds it; callers that start a server retry on a bind failure.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port from listen(0)'));
      });
    });
  });
}

/** Waits until a synchronous condition holds (socket events, collected output), polling. */
export async function until(condition: () => boolean, timeoutMs: number, what: string, intervalMs = 5): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
