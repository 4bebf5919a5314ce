// Starts the real mesh-dns CLI as a child process on loopback with free ports, for tests that
// need the whole program (signals, snapshot across restarts, namespaces).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, type StartedProcess } from './processes.ts';
import { parseStrictJson } from './strict-json.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const NODE_BINARY = join(REPO_ROOT, 'node_modules/.bin/node');
export const MAIN = join(REPO_ROOT, 'src/main.ts');
export const DEFAULT_CONFIG = join(REPO_ROOT, 'config/mesh-dns.yaml');
/** Upstreams for child processes that configure none: a loopback address where nothing listens. */
export const TEST_RESOLV_CONF = join(REPO_ROOT, 'test/support/resolv.conf');

export interface MeshDnsProcess {
  process: StartedProcess;
  dnsPort: number;
  httpPort: number;
  httpUrl: string;
  dir: string;
  stop(): Promise<void>;
}

export interface MeshDnsProcessOptions {
  /** YAML written to a temp config file (default: an empty config, i.e. all defaults). */
  configYaml?: string;
  /** Extra environment (MCP_MESH_REGISTRY_URL, …). */
  env?: NodeJS.ProcessEnv;
  /** Reuse a directory (for the snapshot file across restarts). */
  dir?: string;
  /** Node options before the entry point (e.g. ['--test-udp-no-try-send']). */
  nodeFlags?: readonly string[];
  /** Run under this wrapper (e.g. ['unshare', '-m', 'sh', '-c', ...]); receives the command line. */
  wrap?: (command: string[]) => string[];
}

export async function startMeshDnsProcess(options: MeshDnsProcessOptions = {}): Promise<MeshDnsProcess> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'mesh-dns-test-')));
  const configPath = join(dir, 'mesh-dns.yaml');
  await writeFile(configPath, options.configYaml ?? '');
  const dnsPort = await freePort();
  const httpPort = await freePort();
  const command = [NODE_BINARY, ...(options.nodeFlags ?? []), MAIN, '--config', configPath];
  const [executable, ...args] = options.wrap ? options.wrap(command) : command;
  const child = await startProcess({
    name: `mesh-dns:${dnsPort}`,
    command: executable!,
    args,
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      MESH_DNS_LISTEN: `127.0.0.1:${dnsPort}`,
      MESH_DNS_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
      MESH_DNS_SNAPSHOT_PATH: join(dir, 'snapshot.json'),
      MESH_DNS_LOG_LEVEL: 'info',
      MESH_DNS_RESOLV_CONF: TEST_RESOLV_CONF,
      // Tests that do not exercise the life cycle stop their server at once (the e2e life-cycle
      // tests set their own lame duck).
      MESH_DNS_SHUTDOWN_LAME_DUCK: '0',
      ...options.env,
    },
    ready: { url: `http://127.0.0.1:${httpPort}/health` },
  });
  // A caller that sets MESH_DNS_LISTEN itself chose the port: report that one.
  const listen = options.env?.['MESH_DNS_LISTEN'];
  const listenPort = listen ? Number(/:(\d+)(?:,|$)/.exec(listen)?.[1] ?? dnsPort) : dnsPort;
  return {
    process: child,
    dnsPort: listenPort,
    httpPort,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    dir,
    stop: async () => {
      await child.stop();
      if (!options.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns true (or throws its last error after `timeoutMs`). */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<number> {
  const started = Date.now();
  let lastError: unknown = null;
  for (;;) {
    try {
      if (await check()) return Date.now() - started;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`condition not met within ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** One pino JSON line of a mesh-dns process's output. */
export interface LogLine {
  level: number;
  /** Epoch milliseconds (pino's default timestamp). */
  time: number;
  msg: string;
  [field: string]: unknown;
}

/**
 * The JSON log lines in a process's output; a line with a key twice throws (strict JSON, as log
 * pipelines read it). A line still being written is skipped.
 */
export function logLines(output: string): LogLine[] {
  return output.split('\n').filter((line) => line.startsWith('{')).flatMap((line) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return []; // a line still being written
    }
    parseStrictJson(line); // throws on a key written twice
    return [parsed as LogLine];
  });
}
