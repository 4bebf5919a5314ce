// A real recursive resolver with a cache, for the cases an authoritative server cannot show:
// unbound (Debian package `unbound`) in the foreground as a child process, listening on
// 127.0.0.1@<free port> only, forwarding every name to a loopback upstream (knot), so it never
// sends a packet anywhere else (no root priming: the forward zone is "."). RD=0 queries are
// answered from its cache only (`allow_snoop`), as a resolver shared by many clients does.
//
// Tests that need it skip with a printed reason when it is missing: `skipWithout('unbound', …)`.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, type StartedProcess } from './processes.ts';
import { which } from '../bench/procs.ts';

export interface UnboundServer {
  port: number;
  process: StartedProcess;
  stop(): Promise<void>;
}

function unboundConfig(dir: string, port: number, forwardTo: number): string {
  return [
    'server:',
    '  interface: 127.0.0.1',
    `  port: ${port}`,
    '  do-ip6: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${dir}"`,
    '  pidfile: ""',
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 0',
    '  do-daemonize: no',
    '  num-threads: 1',
    // RD=0 queries are answered from the cache (cache snooping), everything else recursively.
    '  access-control: 127.0.0.0/8 allow_snoop',
    // No validator: no trust anchor to fetch, nothing but the forwarder to talk to.
    '  module-config: "iterator"',
    '  do-not-query-localhost: no',
    '  qname-minimisation: no',
    // unbound serves RFC 6761 `.test` itself by default; the test zones live there.
    '  local-zone: "test." nodefault',
    'forward-zone:',
    '  name: "."',
    `  forward-addr: 127.0.0.1@${forwardTo}`,
    'remote-control:',
    '  control-enable: no',
    '',
  ].join('\n');
}

/** Starts unbound forwarding everything to 127.0.0.1:`forwardTo`. */
export async function startUnbound(forwardTo: number): Promise<UnboundServer> {
  const dir = await mkdtemp(join(tmpdir(), 'unbound-test-'));
  const port = await freePort();
  const configPath = join(dir, 'unbound.conf');
  await writeFile(configPath, unboundConfig(dir, port, forwardTo));
  const child = await startProcess({
    name: `unbound:${port}`,
    // By path: unbound is in /usr/sbin, which a non-root user's PATH often lacks.
    command: which('unbound') ?? 'unbound',
    args: ['-d', '-c', configPath],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/bin' },
    cwd: dir,
    ready: { port },
  }).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  let stopping: Promise<void> | null = null;
  return {
    port,
    process: child,
    stop() {
      stopping ??= (async () => {
        await child.stop();
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
