// A real authoritative upstream for forwarding tests: knotd (Debian package `knot`) started as a
// child process (by pid, in the foreground, `-c` with a generated config), storage, rundir and
// control socket in a temp dir, listening on 127.0.0.1@<free port> only.
//
// Queries are counted by knot itself (mod-stats, read through `knotc stats` / `zone-stats`), so a
// test can prove that mesh-dns did or did not ask: `queryCount()` is every query knot received,
// `queryCount('example.test')` only those answered from that zone (loop and health probes, which
// are for other names, are not in it). `pause()`/`resume()` SIGSTOP/SIGCONT the server: the kernel
// keeps accepting datagrams and TCP connections for it, so it is an upstream that never answers.
//
// Tests that need knot skip with a printed reason when it is missing: `skipWithout('knotd', …)`.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startProcess, type StartedProcess } from './processes.ts';
import { which } from '../bench/procs.ts';

const run = promisify(execFile);

export interface KnotZone {
  /** Zone apex without the trailing dot, e.g. `example.test`. */
  origin: string;
  /** Zone file text ($ORIGIN is added). */
  text: string;
}

/** 200-byte TXT strings: eight of them make an RRset of ~1.6 KB, over the 1232-byte UDP limit. */
export const BIG_TXT_STRINGS: readonly string[] = Array.from({ length: 8 }, (_, index) => `${String.fromCharCode(97 + index)}${index}`.padEnd(200, String.fromCharCode(97 + index)));

/** SOA MINIMUM of the example zone: the negative-caching TTL (RFC 2308 §5). */
export const EXAMPLE_SOA_MINIMUM = 60;

/**
 * The test zone `example.test.` (RFC 6761 §6.2 `.test`: mesh-dns's local-names stage lets it
 * through). `www` A (TTL 300), a CNAME chain `alias → alias2 → www`, NODATA at `www AAAA`,
 * NXDOMAIN for any other name, a TXT RRset over 1232 bytes at `big`, and a 2 s TTL name `short`.
 */
export const EXAMPLE_TEST_ZONE: KnotZone = {
  origin: 'example.test',
  text: [
    '$TTL 300',
    `@ 3600 SOA ns hostmaster 1 3600 600 86400 ${EXAMPLE_SOA_MINIMUM}`,
    '@ 3600 NS ns',
    'ns 3600 A 192.0.2.53',
    'www 300 A 192.0.2.1',
    'alias 300 CNAME alias2',
    'alias2 300 CNAME www',
    'short 2 A 192.0.2.9',
    `big 300 TXT ${BIG_TXT_STRINGS.map((text) => `"${text}"`).join(' ')}`,
    '',
  ].join('\n'),
};

export interface KnotCounters {
  /** Queries (server-operation[query]). */
  queries: number;
  udp: number;
  tcp: number;
}

export interface KnotServer {
  port: number;
  process: StartedProcess;
  /** Queries knot received: all of them, or only those for `zone`. */
  queryCount(zone?: string): Promise<number>;
  /** Queries by transport (request-protocol udp4/tcp4), all or for `zone`. */
  counters(zone?: string): Promise<KnotCounters>;
  /** SIGSTOP: knot stops answering (datagrams and connections still queue in the kernel). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Resumes if paused, stops the process, removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartKnotOptions {
  zones?: readonly KnotZone[];
}

/** knotd's config; `host` other than 127.0.0.1 is for tests in a namespace of their own (127.0.0.11). */
export function knotConfig(dir: string, port: number, zones: readonly KnotZone[], host = '127.0.0.1'): string {
  return [
    'server:',
    `    rundir: "${dir}"`,
    `    listen: ${host}@${port}`,
    '    background-workers: 1',
    '    udp-workers: 1',
    '    tcp-workers: 1',
    'control:',
    `    listen: "${join(dir, 'knot.sock')}"`,
    'log:',
    '  - target: stderr',
    '    any: warning',
    'database:',
    `    storage: "${dir}"`,
    'mod-stats:',
    '  - id: counters',
    '    request-protocol: on',
    '    server-operation: on',
    '    response-code: on',
    'template:',
    '  - id: default',
    `    storage: "${dir}"`,
    // Per zone (zone-stats) and for every query, whatever its name (stats).
    '    module: mod-stats/counters',
    '    global-module: mod-stats/counters',
    'zone:',
    ...zones.flatMap((zone) => [`  - domain: ${zone.origin}`, `    file: "${zone.origin}.zone"`]),
    '',
  ].join('\n');
}

/** Reads `mod-stats.<section>[<item>] = N` lines. */
function counter(text: string, section: string, item: string): number {
  const pattern = new RegExp(`mod-stats\\.${section}\\[${item}\\] = (\\d+)`);
  return Number(pattern.exec(text)?.[1] ?? 0);
}

/** Writes the zone files into `dir` (knotConfig's storage). */
export async function writeKnotZones(dir: string, zones: readonly KnotZone[]): Promise<void> {
  for (const zone of zones) await writeFile(join(dir, `${zone.origin}.zone`), `$ORIGIN ${zone.origin}.\n${zone.text}`);
}

export async function startKnot(options: StartKnotOptions = {}): Promise<KnotServer> {
  const zones = options.zones ?? [EXAMPLE_TEST_ZONE];
  const dir = await mkdtemp(join(tmpdir(), 'knot-test-'));
  await writeKnotZones(dir, zones);
  const socketPath = join(dir, 'knot.sock');

  // freePort can race with another process taking the port: a few attempts.
  let started: { process: StartedProcess; port: number } | null = null;
  let lastError: unknown = null;
  for (let attempt = 0; attempt < 3 && !started; attempt++) {
    const port = await freePort();
    const configPath = join(dir, 'knot.conf');
    await writeFile(configPath, knotConfig(dir, port, zones));
    try {
      const child = await startProcess({
        name: `knotd:${port}`,
        // By path: knotd is in /usr/sbin, which a non-root user's PATH often lacks (toolAvailable finds it there).
        command: which('knotd') ?? 'knotd',
        args: ['-c', configPath],
        env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/bin' },
        cwd: dir,
        ready: { port },
      });
      started = { process: child, port };
    } catch (error) {
      lastError = error;
    }
  }
  if (!started) {
    await rm(dir, { recursive: true, force: true });
    throw lastError;
  }
  const { process: child, port } = started;

  const knotc = async (...args: string[]): Promise<string> => (await run(which('knotc') ?? 'knotc', ['-s', socketPath, '-t', '5', ...args])).stdout;
  // The zone must be loaded before the first query (knotd listens before it has parsed the file).
  for (const zone of zones) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const status = await knotc('zone-status', zone.origin).catch((error: Error) => error.message);
      if (/serial: \d+/.test(status) && !/serial: none/.test(status)) break;
      if (Date.now() > deadline) throw new Error(`knotd did not load ${zone.origin}: ${status}\n${child.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  let paused = false;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(child.pid, name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  const counters = async (zone?: string): Promise<KnotCounters> => {
    if (paused) throw new Error('knotd is paused: its counters cannot be read');
    const text = zone === undefined ? await knotc('stats', 'mod-stats') : await knotc('zone-stats', zone, 'mod-stats');
    return {
      queries: counter(text, 'server-operation', 'query'),
      udp: counter(text, 'request-protocol', 'udp4'),
      tcp: counter(text, 'request-protocol', 'tcp4'),
    };
  };

  let stopping: Promise<void> | null = null;
  return {
    port,
    process: child,
    counters,
    queryCount: async (zone) => (await counters(zone)).queries,
    pause() {
      signal('SIGSTOP');
      paused = true;
    },
    resume() {
      signal('SIGCONT');
      paused = false;
    },
    stop() {
      stopping ??= (async () => {
        // A stopped process keeps SIGTERM pending: continue it first so it can exit.
        if (paused) signal('SIGCONT');
        paused = false;
        await child.stop();
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
