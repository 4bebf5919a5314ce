// Server configuration + start/probe for the benchmark: dnsmasq, unbound and mesh-dns as the
// servers under test, knotd (or unbound as fallback) as the loopback upstream of the
// forward-cache scenario. Everything listens on 127.0.0.1 only, and nothing is configured with
// an upstream other than 127.0.0.1.
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fqdn } from './data.ts';
import type { ZoneData } from './data.ts';
import { freePort, runCommand, sleep, startProcess, tail, which } from './procs.ts';
import type { Proc } from './procs.ts';

/**
 * `bare`: the bare Node dgram loop of bare-server.ts, the floor for a Node server (issue 9).
 * `mesh-dns-main`: another build of mesh-dns (run.ts --main, e.g. main's), measured in the same
 * run as this checkout's for a before/after.
 */
export const SERVER_NAMES = ['dnsmasq', 'unbound', 'bare', 'mesh-dns', 'mesh-dns-main'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

export interface ServerSetup {
  /** Zone answered from local data. */
  local: ZoneData;
  /** Zone forwarded to a loopback upstream (forward-cache scenario). */
  forward?: { zone: string; port: number };
  /** The forwarded zone's data, for the bare loop, which answers it from precompiled replies. */
  forwardZone?: ZoneData;
}

export interface StartContext {
  /** Scratch directory for configs and logs. */
  dir: string;
  repoRoot: string;
  /** Pin the server to CPU 0 with taskset (dnsperf then goes to CPU 1). */
  pin: boolean;
  /** Node flags of mesh-dns (both builds), before dist/main.js: by default those of bin/mesh-dns. */
  meshDnsFlags: readonly string[];
  /** Node flags of the mesh-dns-main build (run.ts --main-flags); by default meshDnsFlags. */
  mainFlags?: readonly string[];
  /** Environment bin/mesh-dns sets before it execs node (malloc tuning), for mesh-dns: by default shippedEnvironment(). */
  meshDnsEnv: Readonly<Record<string, string>>;
  /** The same for the mesh-dns-main build (run.ts --main-env); by default meshDnsEnv. */
  mainEnv?: Readonly<Record<string, string>>;
  /** Distinguishes config/log file names between scenarios and rounds. */
  tag: string;
  /** dist/main.js of the `mesh-dns-main` build (run.ts --main); absent: that server is unavailable. */
  mainBuild?: string;
  /** Node servers (bare, mesh-dns, mesh-dns-main) write a CPU profile per run under this directory. */
  cpuProfDir?: string;
  /** Node servers log every GC (--trace-gc) to their log file: run.ts sums the measured run's pauses. */
  traceGc: boolean;
}

/** bin/mesh-dns of the checkout at `repoRoot`, '' when it has none. */
function launcherText(repoRoot: string): string {
  try {
    return readFileSync(join(repoRoot, 'bin', 'mesh-dns'), 'utf8');
  } catch {
    return '';
  }
}

/**
 * The Node flags mesh-dns ships with: those of the `exec node … "$here/../dist/main.js"` line of
 * bin/mesh-dns, the command the image's ENTRYPOINT and the npm bin run (today
 * --max-semi-space-size=1 --heap-growing-percent=20), so the bench measures the process as it runs in the image. [] when
 * there is no such launcher line.
 */
export function shippedNodeFlags(repoRoot: string): string[] {
  const exec = /^exec node((?: [^\s"]+)*) "\$here\/\.\.\/dist\/main\.js"/m.exec(launcherText(repoRoot));
  return exec ? exec[1]!.split(' ').filter(Boolean) : [];
}

/**
 * The environment mesh-dns ships with: every `export NAME="${NAME-value}"` (or `:-`) line of bin/mesh-dns
 * (today MALLOC_ARENA_MAX=1 and malloc's thresholds), as NAME → value, so the benches start dist/main.js the way the
 * launcher would. {} when there is no launcher.
 */
export function shippedEnvironment(repoRoot: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [, name, value] of launcherText(repoRoot).matchAll(/^export ([A-Z_][A-Z0-9_]*)="\$\{\1:?-([^}"]*)\}"$/gm)) env[name!] = value!;
  return env;
}

/**
 * `KEY=VALUE` pairs (a bench option) over `base`: an empty VALUE removes KEY, so
 * `--mesh-dns-env=MALLOC_ARENA_MAX=` measures the process without the launcher's setting.
 */
export function withEnvironment(base: Readonly<Record<string, string>>, pairs: readonly string[]): Record<string, string> {
  const env = { ...base };
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`${pair}: expected KEY=VALUE`);
    const key = pair.slice(0, at);
    const value = pair.slice(at + 1);
    if (value === '') delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Flags every Node server of the bench gets: a CPU profile and GC tracing when asked for. */
function nodeDiagnosticFlags(ctx: StartContext, base: string): string[] {
  const flags: string[] = [];
  if (ctx.cpuProfDir) flags.push('--cpu-prof', `--cpu-prof-dir=${join(ctx.cpuProfDir, base.slice(ctx.dir.length + 1))}`);
  if (ctx.traceGc) flags.push('--trace-gc');
  return flags;
}

export interface Running {
  name: string;
  proc: Proc;
  port: number;
  configFile: string;
}

// ---------------------------------------------------------------------------------------------
// Availability

export function meshDnsNode(repoRoot: string): string {
  const local = join(repoRoot, 'node_modules', '.bin', 'node');
  try {
    return realpathSync(local);
  } catch {
    return process.execPath;
  }
}

/** null when the server can be started, otherwise the reason it can't. */
export function unavailableReason(name: ServerName | 'knotd', repoRoot: string, mainBuild?: string): string | null {
  switch (name) {
    case 'dnsmasq':
      return which('dnsmasq') ? null : 'dnsmasq binary not found (Debian package dnsmasq-base)';
    case 'unbound':
      return which('unbound') ? null : 'unbound binary not found (Debian package unbound)';
    case 'knotd':
      return which('knotd') && which('knotc') ? null : 'knotd/knotc not found (Debian package knot)';
    case 'bare':
      return null;
    case 'mesh-dns-main':
      if (mainBuild === undefined) return 'no other build given (--main path/to/dist/main.js)';
      return existsSync(mainBuild) ? null : `${mainBuild} is missing (build that checkout first)`;
    case 'mesh-dns': {
      if (!existsSync(join(repoRoot, 'dist', 'main.js'))) return 'dist/main.js is missing (the run builds it first: npm run build)';
      return null;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Config generation

export function dnsmasqArgs(port: number, setup: ServerSetup, hostsFile: string): string[] {
  const args = [
    '--conf-file=/dev/null', // never read /etc/dnsmasq.conf
    '--keep-in-foreground',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--user=root',
    '--pid-file=',
    '--log-facility=-',
    `--addn-hosts=${hostsFile}`,
    `--local=/${setup.local.zone}/`,
    `--local-ttl=${setup.local.ttlSeconds}`,
  ];
  if (setup.forward) args.push(`--server=/${setup.forward.zone}/127.0.0.1#${setup.forward.port}`);
  return args;
}

export function hostsFile(zone: ZoneData): string {
  return zone.records.map((r) => `${r.ipv4} ${fqdn(zone, r)}\n`).join('');
}

export function unboundConf(port: number, dir: string, setup: { local: ZoneData; forward?: { zone: string; port: number } }): string {
  const z = setup.local;
  const lines = [
    'server:',
    `  interface: 127.0.0.1@${port}`,
    `  port: ${port}`,
    '  do-daemonize: no',
    '  chroot: ""',
    '  username: ""',
    `  directory: "${dir}"`,
    '  pidfile: ""',
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 1',
    '  num-threads: 1',
    '  do-ip6: no',
    '  access-control: 127.0.0.0/8 allow',
    '  module-config: "iterator"',
    // Loopback only: outgoing queries can only use 127.0.0.1 as source, and everything that is not
    // one of our zones is refused instead of being resolved from the root hints.
    '  outgoing-interface: 127.0.0.1',
    `  do-not-query-localhost: ${setup.forward ? 'no' : 'yes'}`,
    '  local-zone: "." refuse',
    `  local-zone: "${z.zone}." static`,
    ...z.records.map((r) => `  local-data: "${fqdn(z, r)}. ${z.ttlSeconds} IN A ${r.ipv4}"`),
  ];
  if (setup.forward) lines.push(`  local-zone: "${setup.forward.zone}." transparent`);
  lines.push('remote-control:', '  control-enable: no');
  if (setup.forward) {
    lines.push('forward-zone:', `  name: "${setup.forward.zone}."`, `  forward-addr: 127.0.0.1@${setup.forward.port}`);
  }
  return lines.join('\n') + '\n';
}

/** The mesh-dns YAML contract (see src/ config loader): zone + static records, no registry. */
export function meshDnsYaml(setup: ServerSetup): string {
  const z = setup.local;
  const lines = [
    'zone:',
    `  name: ${z.zone}`,
    `  ttl: ${z.ttlSeconds}s`,
    '  records:',
    ...z.records.map((r) => `    - { name: ${r.name}, type: A, value: ${r.ipv4} }`),
    'registry:',
    '  url: ""',
    // no snapshot: a stale .mesh-dns/registry-snapshot.json in the checkout must not add records
    '  snapshotPath: ""',
    'log:',
    '  level: warn',
  ];
  if (setup.forward) lines.push('upstreams:', `  servers: ["127.0.0.1:${setup.forward.port}"]`);
  return lines.join('\n') + '\n';
}

export function knotConf(port: number, dir: string, zone: ZoneData): string {
  return [
    'server:',
    `    rundir: "${dir}"`,
    `    listen: 127.0.0.1@${port}`,
    '    background-workers: 1',
    '    udp-workers: 1',
    '    tcp-workers: 1',
    'log:',
    '  - target: stderr',
    '    any: warning',
    'database:',
    `    storage: "${dir}"`,
    'mod-stats:',
    '  - id: default',
    'template:',
    '  - id: default',
    `    storage: "${dir}"`,
    '    global-module: mod-stats/default',
    'zone:',
    `  - domain: ${zone.zone}`,
    `    file: "${zone.zone}.zone"`,
    '',
  ].join('\n');
}

export function zoneFile(zone: ZoneData): string {
  return [
    `$ORIGIN ${zone.zone}.`,
    `$TTL ${zone.ttlSeconds}`,
    `@ SOA ns.${zone.zone}. hostmaster.${zone.zone}. 1 3600 600 86400 3600`,
    `@ NS ns.${zone.zone}.`,
    'ns A 127.0.0.1',
    ...zone.records.map((r) => `${r.name} A ${r.ipv4}`),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Start

function withPin(pin: boolean, cmd: string, args: string[]): [string, string[]] {
  const taskset = pin ? which('taskset') : null;
  return taskset ? [taskset, ['-c', '0', cmd, ...args]] : [cmd, args];
}

export async function startServer(name: ServerName, setup: ServerSetup, ctx: StartContext): Promise<Running> {
  const port = await freePort();
  const base = join(ctx.dir, `${ctx.tag}-${name}`);
  const logFile = `${base}.log`;
  const diagnostics = nodeDiagnosticFlags(ctx, base);
  switch (name) {
    case 'dnsmasq': {
      const hosts = `${base}.hosts`;
      writeFileSync(hosts, hostsFile(setup.local));
      const args = dnsmasqArgs(port, setup, hosts);
      writeFileSync(`${base}.args`, args.join('\n') + '\n');
      const [cmd, argv] = withPin(ctx.pin, which('dnsmasq') ?? 'dnsmasq', args);
      return { name, port, configFile: `${base}.args`, proc: startProcess(name, cmd, argv, { logFile }) };
    }
    case 'unbound': {
      const conf = `${base}.conf`;
      writeFileSync(conf, unboundConf(port, ctx.dir, setup));
      const [cmd, argv] = withPin(ctx.pin, which('unbound') ?? 'unbound', ['-d', '-c', conf]);
      return { name, port, configFile: conf, proc: startProcess(name, cmd, argv, { logFile }) };
    }
    case 'bare': {
      // Every name the scenario may ask (local and forwarded zones) from precompiled replies.
      const conf = `${base}.records.json`;
      const zones = setup.forwardZone ? [setup.local, setup.forwardZone] : [setup.local];
      writeFileSync(conf, JSON.stringify(zones.flatMap((z) => z.records.map((r) => ({ name: fqdn(z, r), ipv4: r.ipv4 })))));
      const script = join(ctx.repoRoot, 'test', 'bench', 'bare-server.ts');
      const [cmd, argv] = withPin(ctx.pin, meshDnsNode(ctx.repoRoot), [...diagnostics, script, '--port', String(port), '--records', conf, '--ttl', String(setup.local.ttlSeconds)]);
      return { name, port, configFile: conf, proc: startProcess(name, cmd, argv, { logFile }) };
    }
    case 'mesh-dns':
    case 'mesh-dns-main': {
      const conf = `${base}.yaml`;
      // The other build runs from its own checkout, so it resolves its own node_modules.
      const main = name === 'mesh-dns-main' ? ctx.mainBuild! : join(ctx.repoRoot, 'dist', 'main.js');
      writeFileSync(conf, meshDnsYaml(setup));
      const httpPort = await freePort();
      // Drop inherited mesh-dns settings (MESH_DNS_*, MCP_MESH_*): only the generated config counts.
      const inherited = Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !k.startsWith('MESH_DNS_') && !k.startsWith('MCP_MESH_')),
      );
      // Inherited values of the launcher's variables give way to the ones this build is measured with.
      const launcherEnv = name === 'mesh-dns-main' ? (ctx.mainEnv ?? ctx.meshDnsEnv) : ctx.meshDnsEnv;
      for (const key of Object.keys(shippedEnvironment(ctx.repoRoot))) delete inherited[key];
      const env = {
        ...inherited,
        ...launcherEnv,
        MESH_DNS_LISTEN: `127.0.0.1:${port}`,
        MESH_DNS_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
        // Never the machine's resolv.conf: upstreams only where the scenario configures them.
        MESH_DNS_RESOLV_CONF: '',
      };
      const [cmd, argv] = withPin(ctx.pin, meshDnsNode(ctx.repoRoot), [...(name === 'mesh-dns-main' ? (ctx.mainFlags ?? ctx.meshDnsFlags) : ctx.meshDnsFlags), ...diagnostics, main, '--config', conf]);
      return {
        name,
        port,
        configFile: conf,
        proc: startProcess(name, cmd, argv, { logFile, env, cwd: dirname(dirname(main)) }),
      };
    }
  }
}

export interface Upstream extends Running {
  /** Queries the upstream has answered so far (knotd mod-stats), null if unknown. */
  queryCount(): Promise<number | null>;
}

/** Authoritative upstream for the forward-cache scenario: knotd, or unbound if knot is missing. */
export async function startUpstream(zone: ZoneData, ctx: StartContext): Promise<Upstream> {
  const port = await freePort();
  const dir = join(ctx.dir, `${ctx.tag}-upstream`);
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'upstream.log');
  if (unavailableReason('knotd', ctx.repoRoot) === null) {
    const conf = join(dir, 'knot.conf');
    writeFileSync(conf, knotConf(port, dir, zone));
    writeFileSync(join(dir, `${zone.zone}.zone`), zoneFile(zone));
    const proc = startProcess('knotd', which('knotd') ?? 'knotd', ['-c', conf], { logFile });
    const sock = join(dir, 'knot.sock');
    return {
      name: 'knotd',
      port,
      configFile: conf,
      proc,
      async queryCount() {
        const r = await runCommand(which('knotc') ?? 'knotc', ['-s', sock, 'stats', 'mod-stats.server-operation'], {
          timeoutMs: 5000,
        });
        const m = /server-operation\[query\]\s*=\s*(\d+)/.exec(r.stdout);
        return m ? Number(m[1]) : r.code === 0 ? 0 : null;
      },
    };
  }
  const conf = join(dir, 'unbound-upstream.conf');
  writeFileSync(conf, unboundConf(port, dir, { local: zone }));
  const proc = startProcess('unbound-upstream', which('unbound') ?? 'unbound', ['-d', '-c', conf], { logFile });
  return { name: 'unbound (upstream)', port, configFile: conf, proc, queryCount: async () => null };
}

// ---------------------------------------------------------------------------------------------
// Probing

export interface ProbeResult {
  ok: boolean;
  /** DNS rcode of the reply, undefined when no reply arrived. */
  status?: string;
  answers: string[];
  ttl?: number;
  error?: string;
}

/** `dig @127.0.0.1 -p port name A`: status and A answers. */
export async function probe(port: number, name: string, expected: string): Promise<ProbeResult> {
  const r = await runCommand(
    which('dig') ?? 'dig',
    ['+time=1', '+tries=1', '+noall', '+comments', '+answer', `@127.0.0.1`, '-p', String(port), name, 'A'],
    { timeoutMs: 5000 },
  );
  const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1];
  const answers: string[] = [];
  let ttl: number | undefined;
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s+IN\s+A\s+(\S+)/.exec(line);
    if (m && m[1]!.toLowerCase() === `${name.toLowerCase()}.`) {
      answers.push(m[3]!);
      ttl = Number(m[2]);
    }
  }
  const ok = status === 'NOERROR' && answers.length === 1 && answers[0] === expected;
  const error = ok
    ? undefined
    : status
      ? `${name}: status ${status}, answers [${answers.join(', ')}], expected ${expected}`
      : `${name}: no reply (${(r.stdout + r.stderr).trim().split('\n').pop() ?? 'dig failed'})`;
  return { ok, answers, ...(status ? { status } : {}), ...(ttl !== undefined ? { ttl } : {}), ...(error ? { error } : {}) };
}

/**
 * Wait until the server answers `name` with `expected`. Gives up when the process exits, when no
 * reply came within startMs, or graceMs after the first (wrong) reply.
 */
export async function waitForAnswer(
  srv: Running,
  name: string,
  expected: string,
  startMs: number,
  graceMs = 2000,
): Promise<ProbeResult> {
  const t0 = Date.now();
  let firstReply: number | undefined;
  let last: ProbeResult = { ok: false, answers: [], error: 'not probed' };
  for (;;) {
    if (srv.proc.exit) {
      const e = srv.proc.exit;
      const how = e.error ?? (e.signal ? `signal ${e.signal}` : `code ${e.code}`);
      return { ok: false, answers: [], error: `${srv.name} exited (${how}):\n${tail(srv.proc.logFile)}` };
    }
    last = await probe(srv.port, name, expected);
    if (last.ok) return last;
    if (last.status && firstReply === undefined) firstReply = Date.now();
    const now = Date.now();
    if (firstReply !== undefined && now - firstReply > graceMs) return last;
    if (firstReply === undefined && now - t0 > startMs) return last;
    await sleep(150);
  }
}
