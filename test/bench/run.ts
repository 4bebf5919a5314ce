/*
 * mesh-dns benchmark: mesh-dns vs dnsmasq vs unbound vs the bare Node dgram loop (the floor for a
 * Node server, test/bench/bare-server.ts), side by side in one run, with dnsperf.
 *
 *   npm run bench                                   # every scenario, 10 s per server
 *   npm run bench -- --quick                        # smoke run of everything in ~1 min (not a measurement)
 *   npm run bench -- --scenario mesh-a --seconds 3
 *   npm run bench -- --only dnsmasq,mesh-dns --names 5000 --json /tmp/bench.json
 *   npx node test/bench/run.ts --help               # (Node 24 from node_modules, never the system node)
 *
 * Scenarios (--scenario mesh-a|mesh-negative|forward-cache|mesh-a-tcp|latency|all or a comma list, default all):
 *   mesh-a         N A records agent-0000 … under mesh.local (10.x.y.z), answered from local data:
 *                  dnsmasq --addn-hosts + --local=/mesh.local/, unbound local-zone static +
 *                  local-data, mesh-dns zone.records. dnsperf loops over the N names.
 *   forward-cache  knotd (unbound if knot is missing) serves example.test (100 names, TTL 3600) on
 *                  127.0.0.1; dnsmasq (--server=/example.test/…), unbound (forward-zone) and
 *                  mesh-dns (upstreams.servers) forward example.test to it. The cache is warmed by
 *                  one pass over the names, then dnsperf asks the same names: cache hits. The
 *                  upstream's query counter (knotc stats) shows how many queries reached it.
 *                  mesh-dns is skipped when it answers the probe with REFUSED/SERVFAIL/NOTIMP.
 *   mesh-negative  NXDOMAIN (nope-<name> A) and NODATA (<name> AAAA) alternating, same local data.
 *   mesh-a-tcp     mesh-a over TCP (dnsperf -m tcp): each client one connection, pipelined.
 *   latency        mesh-a at a fixed offered rate (--latency-qps, dnsperf -Q): p50/p99/p99.9 when
 *                  nobody is saturated (the tail: GC pauses, timers, event-loop stalls).
 * Servers: dnsmasq (the baseline of the ×dnsmasq columns), unbound, bare (the floor of the ×bare
 * columns: parse the question, copy a precompiled reply, patch ID and question; UDP and TCP; for
 * forward-cache it answers example.test from precompiled replies too, its floor being the same),
 * mesh-dns. The bare loop runs under Node's type stripping, so its RSS is ~25 MiB over a plain
 * script's; its CPU per query is unaffected (stripping happens once at start).
 *
 * For each scenario and server, one at a time (2-core box): start on a free 127.0.0.1 port →
 * correctness probe with dig (agent-0007 and the last name must resolve to the expected address,
 * otherwise the server is marked invalid and not measured) → warm-up run (not recorded) →
 * measured dnsperf run → RSS from /proc/<pid>/status and CPU time from /proc/<pid>/stat → stop.
 * A server whose binary / entry point is missing is skipped with the reason. mesh-dns runs as it
 * ships (dist/main.js, built at the start of the run, with the Node flags of bin/mesh-dns, the
 * command the image runs: --max-semi-space-size=1 --heap-growing-percent=20 --no-maglev --no-turbofan today): running src/*.ts directly would add Node's
 * type-stripping compiler, ~30 MiB of RSS, to its figures, and without the flag its young
 * generation (and so the length of each scavenge, the tail) would not be the one that ships.
 *
 * Options (each also readable from the environment as BENCH_<NAME>, e.g. BENCH_SECONDS=3):
 *   --scenario S     mesh-a | forward-cache | all                     (all)
 *   --only LIST      comma list of dnsmasq,unbound,bare,mesh-dns      (all four)
 *   --main PATH      another build's dist/main.js (e.g. main's checkout, built): measured as
 *                    `mesh-dns-main` beside mesh-dns, same flags, same run (before/after)
 *   --main-flags=F   Node flags of `mesh-dns-main` instead of --mesh-dns-flags: with --main
 *                    dist/main.js, one build under two flag sets in one run
 *   --mesh-dns-env=K=V,…  environment of mesh-dns (both builds) over what bin/mesh-dns exports
 *                    (MALLOC_ARENA_MAX=1 and malloc's thresholds today); K= removes K: --mesh-dns-env=MALLOC_ARENA_MAX=
 *   --main-env=K=V,… the same for `mesh-dns-main` (default: --mesh-dns-env's)
 *   --trace-gc       Node servers run with --trace-gc; each round notes the GC pauses of the
 *                    measured run (count, total, longest; scavenges and full GCs apart)
 *   --cpu-prof DIR   Node servers write a CPU profile per run under DIR (node --cpu-prof)
 *   --seconds N      measured dnsperf time per server (-l)            (10)
 *   --warmup N       unrecorded warm-up run per server, seconds       (2; 0 = none)
 *   --names N        number of mesh.local names                       (1000)
 *   --clients N      dnsperf -c                                       (8)
 *   --outstanding N  dnsperf -q (max queries in flight)               (200)
 *   --threads N      dnsperf -T                                       (1)
 *   --max-qps N      dnsperf -Q (rate limit)                          (unlimited)
 *   --timeout N      dnsperf -t, seconds before a query counts as lost (2; dnsperf's own
 *                    default is 5, and every run waits that long for its last lost queries)
 *   --quiet-wait N   before each server's warm-up, wait up to N s for the machine to be idle
 *                    (< 25% of one core busy over 1 s; other users' test runs share the box) (30)
 *   --rounds N       measure each server N times, interleaved; the table shows the
 *                    picked round and the qps spread                  (1)
 *   --pick P         median | best: which round represents a server (best = highest qps, the
 *                    least disturbed by other load on a shared machine)   (median)
 *   --pin            server on CPU 0, dnsperf on CPU 1 (taskset)      (off)
 *   --mesh-dns-flags=F  Node flags for mesh-dns only (both builds), space-separated, instead of
 *                    those it ships with: --mesh-dns-flags="--max-semi-space-size=1 --max-opt=2";
 *                    --mesh-dns-flags= for none (the bare loop and the bench itself keep none)
 *                    (the flags of bin/mesh-dns, the command the image runs)
 *   --no-percentiles skip dnsperf -v (no p50/p99)                     (percentiles on)
 *   --latency-qps N  offered rate of the latency scenario             (20000)
 *   --quick          smoke run: 1 s per server, no warm-up, 50 names, no quiet wait, latency at
 *                    2000 qps (explicit options still win); the bench's own test runs it
 *   --json FILE      also write all results as JSON
 *   --keep           keep the scratch directory (configs, logs)
 *
 * Table columns: qps, avg/sd latency (dnsperf's own figures), p50/p99 (see below), lost %,
 * cpu % = server CPU time (all threads) / dnsperf run time in % of one core, cpu µs/q = server
 * CPU per answered query (the efficiency figure least affected by the client), dnsperf % = the
 * client's CPU, other % = everything else the machine did meanwhile (other processes, kernel):
 * a noise indicator, warned about above 25%; steal (in the notes, warned about above 5%) = time
 * the hypervisor gave this guest's busy vCPUs to someone else, which the guest's scheduler does
 * not see: on this host it tracked the tail (dnsmasq's p99 at 20k qps 0.83 ms with 90 ms of steal
 * in a run, 3.8–3.9 ms with 330–540 ms). RSS MiB = VmRSS after the run (idle RSS and VmHWM in
 * the notes and the JSON). qps×/lat×dnsmasq = ratio to dnsmasq in the same scenario (qps× > 1 =
 * more qps than dnsmasq, lat× > 1 = slower, cpu/q× > 1 = more CPU per query; ×bare columns: the
 * same against the bare loop (cpu/q×bare is issue 9's target: ≤ 1.1); on a busy shared
 * machine cpu/q× is the steadiest of the three). Client and server share 2 cores: at ~100k qps the
 * C servers are partly limited by dnsperf itself (their cpu % stays below 100).
 * Latency percentiles: dnsperf 2.10 has no histogram option, so the measured run uses -v (one
 * line per query with its latency), written by dnsperf directly to a file and read afterwards
 * into a 1 µs histogram; -v did not change dnsperf's qps measurably here.
 * Lost queries: dnsmasq and unbound lose a handful per run (kernel UDP receive-buffer drops,
 * shown in the notes from /proc/net/snmp); mesh-dns sets a 4 MiB receive buffer.
 * Everything stays on 127.0.0.1; every process started is killed by pid on exit, error or signal,
 * and an overall deadline stops the run if anything hangs. Exit code 1 if any result is invalid.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { forwardZone, fqdn, meshZone, probeRecords, writeQueryFile } from './data.ts';
import type { ZoneData } from './data.ts';
import { dnsperfVersion, runDnsperf } from './dnsperf.ts';
import { gcPauses, type GcPauses } from './gc-trace.ts';
import type { DnsperfStats, LatencyPercentiles } from './dnsperf.ts';
import {
  killAllSync,
  readChildrenCpuSeconds,
  readCpuSeconds,
  readMem,
  readSystemCpu,
  readUdpRcvbufErrors,
  sleep,
  stopProcess,
  which,
} from './procs.ts';
import {
  SERVER_NAMES,
  meshDnsNode,
  shippedEnvironment,
  shippedNodeFlags,
  startServer,
  startUpstream,
  unavailableReason,
  withEnvironment,
  waitForAnswer,
} from './servers.ts';
import type { ServerName, ServerSetup, StartContext, Upstream } from './servers.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCENARIOS = ['mesh-a', 'mesh-negative', 'forward-cache', 'mesh-a-tcp', 'latency'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

interface Options {
  scenarios: ScenarioName[];
  only: ServerName[];
  seconds: number;
  warmup: number;
  names: number;
  clients: number;
  outstanding: number;
  threads: number;
  maxQps: number | undefined;
  timeout: number;
  quietWait: number;
  rounds: number;
  pick: 'median' | 'best';
  pin: boolean;
  /** Node flags for the mesh-dns process only (--mesh-dns-flags; default: those bin/mesh-dns ships with). */
  meshDnsFlags: string[];
  /** Node flags for mesh-dns-main (--main-flags; default: meshDnsFlags). */
  mainFlags: string[];
  /** Environment of mesh-dns from its launcher, with --mesh-dns-env applied. */
  meshDnsEnv: Record<string, string>;
  /** The same for mesh-dns-main (--main-env; default: meshDnsEnv). */
  mainEnv: Record<string, string>;
  percentiles: boolean;
  json: string | undefined;
  keep: boolean;
  /** Offered rate of the latency scenario (dnsperf -Q). */
  latencyQps: number;
  quick: boolean;
  mainBuild?: string;
  traceGc: boolean;
  cpuProfDir?: string;
}

class UsageError extends Error {}

/** The comment block at the top of this file. */
function usage(): string {
  const text = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const block = text.slice(text.indexOf('/*') + 2, text.indexOf('*/'));
  return block.replace(/^ ?\* ?/gm, '').trim();
}

function pickOpt(v: string | undefined): 'median' | 'best' {
  if (v === undefined || v === 'median' || v === 'best') return v ?? 'median';
  throw new UsageError(`--pick must be median or best, got ${v}`);
}

function parseOptions(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowNegative: true,
      options: {
        scenario: { type: 'string' },
        only: { type: 'string' },
        main: { type: 'string' },
        'trace-gc': { type: 'boolean' },
        'cpu-prof': { type: 'string' },
        seconds: { type: 'string' },
        warmup: { type: 'string' },
        names: { type: 'string' },
        clients: { type: 'string' },
        outstanding: { type: 'string' },
        threads: { type: 'string' },
        'max-qps': { type: 'string' },
        timeout: { type: 'string' },
        'quiet-wait': { type: 'string' },
        rounds: { type: 'string' },
        pick: { type: 'string' },
        pin: { type: 'boolean' },
        'mesh-dns-flags': { type: 'string' },
        'main-flags': { type: 'string' },
        'mesh-dns-env': { type: 'string' },
        'main-env': { type: 'string' },
        percentiles: { type: 'boolean' },
        json: { type: 'string' },
        keep: { type: 'boolean' },
        'latency-qps': { type: 'string' },
        quick: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const env = (k: string): string | undefined => process.env[`BENCH_${k.toUpperCase().replace(/-/g, '_')}`];
  const str = (k: keyof typeof values & string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : env(k);
  };
  const bool = (k: keyof typeof values & string, dflt: boolean): boolean => {
    const v = values[k];
    if (typeof v === 'boolean') return v;
    const e = env(k);
    return e === undefined ? dflt : /^(1|true|yes|on)$/i.test(e);
  };
  const int = (k: keyof typeof values & string, dflt: number, min: number): number => {
    const s = str(k);
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${k} must be an integer >= ${min}, got ${s}`);
    return n;
  };
  const scenario = str('scenario') ?? 'all';
  let scenarios: ScenarioName[];
  if (scenario === 'all') scenarios = [...SCENARIOS];
  else {
    scenarios = scenario.split(',').map((s) => s.trim()).filter(Boolean) as ScenarioName[];
    const unknown = scenarios.find((s) => !(SCENARIOS as readonly string[]).includes(s));
    if (unknown !== undefined || scenarios.length === 0) throw new UsageError(`--scenario must be one of ${SCENARIOS.join(', ')}, all, or a comma list; got ${scenario}`);
  }
  const mainBuild = str('main');
  const onlyRaw = str('only');
  const only = onlyRaw
    ? onlyRaw.split(',').map((s) => s.trim()).filter(Boolean)
    : SERVER_NAMES.filter((s) => s !== 'mesh-dns-main');
  // --main measures the other build beside this one's.
  if (mainBuild !== undefined && only.includes('mesh-dns') && !only.includes('mesh-dns-main')) only.push('mesh-dns-main');
  const meshDnsFlags = str('mesh-dns-flags');
  const mainFlags = str('main-flags');
  const envPairs = (text: string | undefined): string[] => (text ?? '').split(',').map((pair) => pair.trim()).filter(Boolean);
  const launcherEnv = (option: 'mesh-dns-env' | 'main-env', pairs: string[]): Record<string, string> => {
    try {
      return withEnvironment(shippedEnvironment(REPO_ROOT), pairs);
    } catch (e) {
      throw new UsageError(`--${option}: ${(e as Error).message}`);
    }
  };
  const meshDnsEnv = launcherEnv('mesh-dns-env', envPairs(str('mesh-dns-env')));
  const mainEnv = str('main-env') === undefined ? meshDnsEnv : launcherEnv('main-env', envPairs(str('main-env')));
  for (const s of only) {
    if (!(SERVER_NAMES as readonly string[]).includes(s)) {
      throw new UsageError(`--only: unknown server ${s} (known: ${SERVER_NAMES.join(', ')})`);
    }
  }
  const maxQps = str('max-qps');
  // --quick: a smoke run of every scenario in seconds (the bench's own test runs it); its figures
  // are not measurements. Explicit options still win.
  const quick = bool('quick', false);
  const q = <T,>(quickValue: T, value: T): T => (quick ? quickValue : value);
  return {
    quick,
    latencyQps: int('latency-qps', q(2000, 20000), 1),
    scenarios,
    // keep the canonical order so dnsmasq (the baseline) runs first
    only: SERVER_NAMES.filter((s) => only.includes(s)),
    seconds: int('seconds', q(1, 10), 1),
    warmup: int('warmup', q(0, 2), 0),
    names: int('names', q(50, 1000), 8),
    clients: int('clients', 8, 1),
    outstanding: int('outstanding', 200, 1),
    threads: int('threads', 1, 1),
    maxQps: maxQps === undefined ? undefined : int('max-qps', 0, 1),
    timeout: int('timeout', q(1, 2), 1),
    quietWait: int('quiet-wait', q(0, 30), 0),
    rounds: int('rounds', 1, 1),
    pick: pickOpt(str('pick')),
    pin: bool('pin', false),
    meshDnsFlags: meshDnsFlags === undefined ? shippedNodeFlags(REPO_ROOT) : meshDnsFlags.split(/\s+/).filter(Boolean),
    mainFlags: (mainFlags ?? meshDnsFlags)?.split(/\s+/).filter(Boolean) ?? shippedNodeFlags(REPO_ROOT),
    meshDnsEnv,
    mainEnv,
    percentiles: bool('percentiles', true),
    json: str('json'),
    keep: bool('keep', false),
    ...(mainBuild !== undefined ? { mainBuild: resolve(mainBuild) } : {}),
    traceGc: bool('trace-gc', false),
    ...(str('cpu-prof') !== undefined ? { cpuProfDir: resolve(str('cpu-prof')!) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Results

interface RoundResult {
  round: number;
  command: string;
  stats: DnsperfStats;
  percentiles?: LatencyPercentiles;
  /** Server CPU seconds (all threads) during the measured run. */
  cpuSeconds: number | null;
  cpuPct: number | null;
  cpuUsPerQuery: number | null;
  /** dnsperf's CPU time over its run time, % of one core. */
  dnsperfCpuPct: number | null;
  /** CPU used by everything else on the machine during the run (incl. kernel), % of one core. */
  otherCpuPct: number | null;
  /** Steal time during the run (/proc/stat), % of one core: the host's noise, not this guest's. */
  stealCpuPct: number | null;
  /** System-wide UDP receive-buffer drops during the run (/proc/net/snmp RcvbufErrors). */
  udpRcvbufDrops: number | null;
  rssIdleKiB: number | null;
  rssAfterKiB: number | null;
  hwmKiB: number | null;
  /** Queries that reached the upstream during the measured run (forward-cache). */
  upstreamQueries?: number | null;
  /** GC pauses during the measured run (--trace-gc): scavenges and the rest apart. */
  gc?: GcPauses;
  warnings: string[];
}


interface ServerResult {
  server: ServerName;
  status: 'ok' | 'invalid' | 'skipped';
  reason?: string;
  startupMs?: number;
  probeTtl?: number;
  rounds: RoundResult[];
  /** The round with the median (or, with --pick best, the highest) qps. */
  summary?: RoundResult;
  qpsRatio?: number;
  latencyRatio?: number;
  /** Server CPU per query relative to dnsmasq: the ratio least disturbed by other load. */
  cpuPerQueryRatio?: number;
  /** The same three against the bare Node dgram loop (bare-server.ts), the floor for a Node server. */
  qpsRatioBare?: number;
  cpuPerQueryRatioBare?: number;
  p99RatioBare?: number;
}

interface ScenarioResult {
  scenario: ScenarioName;
  description: string;
  transport: 'udp' | 'tcp';
  maxQps?: number;
  upstream?: string;
  results: ServerResult[];
}

// ---------------------------------------------------------------------------------------------

function versionOf(cmd: string, args: string[], re: RegExp): string | null {
  const bin = which(cmd);
  if (!bin) return null;
  try {
    const out = execFileSync(bin, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
    return re.exec(out)?.[1] ?? out.split('\n')[0] ?? null;
  } catch (e) {
    const out = String((e as { stdout?: unknown }).stdout ?? '');
    return re.exec(out)?.[1] ?? null;
  }
}

async function machineFacts(): Promise<Record<string, unknown>> {
  let nproc: number | null = null;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    // ignore
  }
  let gitHead: string | null = null;
  try {
    gitHead = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // ignore
  }
  const meshNode = meshDnsNode(REPO_ROOT);
  return {
    nproc,
    availableParallelism: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? null,
    memTotalMiB: Math.round(totalmem() / 2 ** 20),
    kernel: release(),
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    meshDnsNode: versionOf(meshNode, ['--version'], /(v\S+)/),
    dnsperf: await dnsperfVersion(),
    dnsmasq: versionOf('dnsmasq', ['--version'], /Dnsmasq version (\S+)/),
    unbound: versionOf('unbound', ['-V'], /Version (\S+)/),
    knotd: versionOf('knotd', ['--version'], /version (\S+)/),
    gitHead,
  };
}

function median<T>(items: T[], key: (t: T) => number): T | undefined {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

interface ScenarioPlan {
  name: ScenarioName;
  description: string;
  local: ZoneData;
  /** Zone whose names are probed and queried. */
  queried: ZoneData;
  forwarded: boolean;
  /** dnsperf input; default one "name A" line per queried record. */
  queries?: string;
  /** Rcodes that count as correct answers (default NOERROR only). */
  rcodes?: readonly string[];
  transport: 'udp' | 'tcp';
  /** Fixed offered rate (dnsperf -Q) instead of saturation. */
  maxQps?: number;
}

/** Wait (up to maxS) until the whole machine is below 25% of one core busy over a 1 s sample. */
async function waitForQuiet(maxS: number): Promise<{ quiet: boolean; busyPct: number; waitedS: number }> {
  const t0 = Date.now();
  let busyPct = NaN;
  for (;;) {
    const a = readSystemCpu();
    await sleep(1000);
    const b = readSystemCpu();
    if (!a || !b) return { quiet: true, busyPct: NaN, waitedS: 0 };
    busyPct = (100 * (b.busyS - a.busyS)) / ((b.totalS - a.totalS) / availableParallelism());
    const waitedS = Math.round((Date.now() - t0) / 1000);
    if (busyPct < 25) return { quiet: true, busyPct, waitedS };
    if (Date.now() - t0 >= maxS * 1000) return { quiet: false, busyPct, waitedS };
  }
}

async function measureOne(
  server: ServerName,
  plan: ScenarioPlan,
  setup: ServerSetup,
  queryFile: string,
  round: number,
  res: ServerResult,
  upstream: Upstream | undefined,
  opts: Options,
  ctx: StartContext,
): Promise<void> {
  const label = `[${plan.name}] ${server}${opts.rounds > 1 ? ` round ${round}` : ''}`;
  const t0 = Date.now();
  const srv = await startServer(server, setup, { ...ctx, tag: `${plan.name}-r${round}` });
  try {
    // Correctness probe: agent-0007 (or svc-0007) plus the last name.
    const startMs = server.startsWith('mesh-dns') ? 20_000 : 8_000;
    for (const [i, rec] of probeRecords(plan.queried).entries()) {
      const name = fqdn(plan.queried, rec);
      const p = await waitForAnswer(srv, name, rec.ipv4, i === 0 ? startMs : 2000);
      if (!p.ok) {
        // mesh-dns without a forwarder yet: refuses outside names, or rejects the `upstreams` key.
        const notForwarding =
          plan.forwarded &&
          server.startsWith('mesh-dns') &&
          (['REFUSED', 'SERVFAIL', 'NOTIMP'].includes(p.status ?? '') ||
            (srv.proc.exit !== undefined && /upstream/i.test(p.error ?? '')));
        res.status = notForwarding ? 'skipped' : 'invalid';
        res.reason = notForwarding
          ? `forwarding not implemented yet? probe ${name}: ${p.status ? `answered ${p.status}` : p.error}`
          : `correctness probe failed: ${p.error}`;
        console.log(`${label}: ${res.status.toUpperCase()} — ${res.reason}`);
        return;
      }
      if (i === 0) {
        res.startupMs ??= Date.now() - t0;
        if (p.ttl !== undefined) res.probeTtl = p.ttl;
      }
    }
    console.log(`${label}: probe ok (port ${srv.port}, answering after ${Date.now() - t0} ms)`);
    const base = {
      port: srv.port,
      queryFile,
      clients: opts.clients,
      outstanding: opts.outstanding,
      threads: opts.threads,
      timeoutS: opts.timeout,
      ...(plan.maxQps !== undefined ? { maxQps: plan.maxQps } : opts.maxQps !== undefined ? { maxQps: opts.maxQps } : {}),
      ...(opts.pin ? { cpu: '1' } : {}),
      transport: plan.transport,
    };
    if (plan.forwarded) {
      // Warm the cache: one pass over the names, every answer must be NOERROR.
      const warm = await runDnsperf({ ...base, clients: 1, outstanding: 10, maxRuns: 1, seconds: 30, transport: 'udp' });
      const noerror = warm.stats?.rcodes['NOERROR'] ?? 0;
      if (!warm.ok || noerror !== plan.queried.records.length) {
        res.status = 'invalid';
        res.reason = `cache warm-up failed: ${warm.error ?? JSON.stringify(warm.stats?.rcodes)} (${noerror}/${plan.queried.records.length} NOERROR)`;
        console.log(`${label}: INVALID — ${res.reason}`);
        return;
      }
    }
    const idle = readMem(srv.proc.pid);
    const quiet = await waitForQuiet(opts.quietWait);
    if (opts.warmup > 0) {
      const w = await runDnsperf({ ...base, seconds: opts.warmup });
      if (!w.ok) console.log(`${label}: warm-up run failed: ${w.error}`);
    }
    const up0 = upstream ? await upstream.queryCount() : undefined;
    const cpu0 = readCpuSeconds(srv.proc.pid);
    const drops0 = readUdpRcvbufErrors();
    const sys0 = readSystemCpu();
    const kids0 = readChildrenCpuSeconds();
    const gcLogFrom = opts.traceGc ? statSync(srv.proc.logFile).size : 0;
    const wall0 = performance.now();
    // Read the counters the moment dnsperf exits, before this process parses its -v output.
    const end: {
      wallS: number;
      cpu: number | null;
      drops: number | null;
      sys: ReturnType<typeof readSystemCpu>;
      kids: number | null;
      mem: ReturnType<typeof readMem>;
    } = { wallS: NaN, cpu: null, drops: null, sys: null, kids: null, mem: null };
    const run = await runDnsperf({
      ...base,
      seconds: opts.seconds,
      ...(opts.percentiles ? { verboseFile: join(ctx.dir, `${plan.name}-${server}-r${round}.verbose`) } : {}),
      onExit: () => {
        end.wallS = (performance.now() - wall0) / 1000;
        end.cpu = readCpuSeconds(srv.proc.pid);
        end.drops = readUdpRcvbufErrors();
        end.sys = readSystemCpu();
        end.kids = readChildrenCpuSeconds(); // dnsperf has been reaped by now
        end.mem = readMem(srv.proc.pid);
      },
    });
    const up1 = upstream ? await upstream.queryCount() : undefined;
    const gc = opts.traceGc ? gcPauses(readFileSync(srv.proc.logFile, 'latin1').slice(gcLogFrom)) : undefined;
    if (srv.proc.exit) {
      res.status = 'invalid';
      res.reason = `${server} exited during the run (code ${srv.proc.exit.code}, signal ${srv.proc.exit.signal})`;
      console.log(`${label}: INVALID — ${res.reason}`);
      return;
    }
    if (!run.ok || !run.stats) {
      res.status = 'invalid';
      res.reason = run.error ?? 'dnsperf failed';
      console.log(`${label}: INVALID — ${res.reason}`);
      return;
    }
    const s = run.stats;
    const warnings: string[] = [];
    const expected = plan.rcodes ?? ['NOERROR'];
    const bad = s.completed - expected.reduce((sum, rcode) => sum + (s.rcodes[rcode] ?? 0), 0);
    if (s.completed === 0 || bad / s.completed > 0.001) {
      res.status = 'invalid';
      res.reason = `answers were not ${expected.join('/')}: ${JSON.stringify(s.rcodes)} of ${s.completed} completed`;
    } else if (bad > 0) {
      warnings.push(`${bad} answers other than ${expected.join('/')} ${JSON.stringify(s.rcodes)}`);
    }
    if (run.percentiles && Number.isFinite(s.avgLatencyMs)) {
      const drift = Math.abs(run.percentiles.meanMs - s.avgLatencyMs) / s.avgLatencyMs;
      if (drift > 0.05) {
        warnings.push(`-v latency mean ${run.percentiles.meanMs.toFixed(3)} ms differs from dnsperf's average`);
      }
    }
    let upstreamQueries: number | null | undefined;
    if (upstream) {
      upstreamQueries = up0 !== undefined && up0 !== null && up1 !== undefined && up1 !== null ? up1 - up0 : null;
      if (upstreamQueries !== null && upstreamQueries > s.completed * 0.01) {
        warnings.push(`${upstreamQueries} queries reached the upstream: not a cache-hit measurement`);
      }
    }
    const cpuSeconds = cpu0 !== null && end.cpu !== null ? end.cpu - cpu0 : null;
    // Everything else the machine did while dnsperf ran (other users' processes, kernel work not
    // charged to a process): a noise indicator, since client and server already fill the 2 cores.
    const dnsperfCpuS = kids0 !== null && end.kids !== null ? end.kids - kids0 : null;
    const sysBusyS = sys0 && end.sys ? end.sys.busyS - sys0.busyS : null;
    // Steal (/proc/stat): the hypervisor ran something else while a vCPU of this guest had work.
    // Invisible to the guest's scheduler (no run-queue wait), it stalls whichever server is
    // running; apart from `other`, which is this guest's own.
    const stealS = sys0 && end.sys ? end.sys.stealS - sys0.stealS : null;
    const otherCpuS =
      sysBusyS !== null && cpuSeconds !== null && dnsperfCpuS !== null
        ? Math.max(0, sysBusyS - (stealS ?? 0) - cpuSeconds - dnsperfCpuS)
        : null;
    const otherPct = otherCpuS !== null && end.wallS > 0 ? (100 * otherCpuS) / end.wallS : null;
    const stealPct = stealS !== null && end.wallS > 0 ? (100 * stealS) / end.wallS : null;
    if (!quiet.quiet) {
      warnings.push(`machine not idle before the run: ${quiet.busyPct.toFixed(0)}% of a core busy after waiting ${quiet.waitedS} s`);
    }
    if (otherPct !== null && otherPct > 25) {
      warnings.push(`machine busy: ${otherPct.toFixed(0)}% of a core used by other processes/kernel during the run`);
    }
    if (stealPct !== null && stealPct > 5) {
      warnings.push(`host busy: the hypervisor took ${stealPct.toFixed(0)}% of a core from this guest (steal) during the run`);
    }
    const r: RoundResult = {
      round,
      command: run.command,
      stats: s,
      ...(run.percentiles ? { percentiles: run.percentiles } : {}),
      cpuSeconds,
      // dnsperf's run time, not wall time: after the time limit dnsperf waits up to -t seconds for
      // lost queries, and the server is idle during that tail.
      cpuPct: cpuSeconds !== null && s.runTimeS > 0 ? (100 * cpuSeconds) / s.runTimeS : null,
      cpuUsPerQuery: cpuSeconds !== null && s.completed > 0 ? (cpuSeconds * 1e6) / s.completed : null,
      dnsperfCpuPct: dnsperfCpuS !== null && s.runTimeS > 0 ? (100 * dnsperfCpuS) / s.runTimeS : null,
      otherCpuPct: otherPct,
      stealCpuPct: stealPct,
      udpRcvbufDrops: drops0 !== null && end.drops !== null ? end.drops - drops0 : null,
      rssIdleKiB: idle?.rssKiB ?? null,
      rssAfterKiB: end.mem?.rssKiB ?? null,
      hwmKiB: end.mem?.hwmKiB ?? null,
      ...(upstreamQueries !== undefined ? { upstreamQueries } : {}),
      ...(gc ? { gc } : {}),
      warnings,
    };
    res.rounds.push(r);
    const p99 = r.percentiles ? `, p99 ${r.percentiles.p99Ms.toFixed(3)} ms` : '';
    console.log(
      `${label}: ${Math.round(s.qps)} qps, avg ${s.avgLatencyMs.toFixed(3)} ms${p99}, lost ${s.lost}` +
        `${res.status === 'invalid' ? ` — INVALID: ${res.reason}` : ''}${warnings.length ? ` — ${warnings.join('; ')}` : ''}`,
    );
  } finally {
    await stopProcess(srv.proc);
  }
}

async function runScenario(plan: ScenarioPlan, opts: Options, ctx: StartContext): Promise<ScenarioResult> {
  const out: ScenarioResult = {
    scenario: plan.name, description: plan.description, transport: plan.transport,
    ...(plan.maxQps !== undefined ? { maxQps: plan.maxQps } : {}), results: [],
  };
  const results = new Map<ServerName, ServerResult>();
  for (const s of opts.only) {
    const reason = unavailableReason(s, REPO_ROOT, opts.mainBuild);
    const r: ServerResult = { server: s, status: reason ? 'skipped' : 'ok', rounds: [], ...(reason ? { reason } : {}) };
    if (reason) console.log(`[${plan.name}] ${s}: SKIPPED — ${reason}`);
    results.set(s, r);
    out.results.push(r);
  }
  const queryFile = join(ctx.dir, `${plan.name}.queries.txt`);
  if (plan.queries !== undefined) writeFileSync(queryFile, plan.queries);
  else writeQueryFile(queryFile, plan.queried);

  let upstream: Upstream | undefined;
  try {
    const setup: ServerSetup = { local: plan.local };
    if (plan.forwarded) {
      upstream = await startUpstream(plan.queried, { ...ctx, tag: plan.name });
      out.upstream = `${upstream.name} on 127.0.0.1:${upstream.port}`;
      const rec = probeRecords(plan.queried)[0]!;
      const p = await waitForAnswer(upstream, fqdn(plan.queried, rec), rec.ipv4, 8000);
      if (!p.ok) {
        for (const r of results.values()) {
          if (r.status === 'ok') {
            r.status = 'skipped';
            r.reason = `upstream ${upstream.name} not answering: ${p.error}`;
          }
        }
        console.log(`[${plan.name}] upstream ${upstream.name} failed its probe: ${p.error}`);
        return out;
      }
      console.log(`[${plan.name}] upstream: ${out.upstream}`);
      setup.forward = { zone: plan.queried.zone, port: upstream.port };
      setup.forwardZone = plan.queried;
    }
    for (let round = 1; round <= opts.rounds; round++) {
      for (const s of opts.only) {
        const r = results.get(s)!;
        if (r.status !== 'ok') continue;
        await measureOne(s, plan, setup, queryFile, round, r, upstream, opts, ctx);
      }
    }
  } finally {
    if (upstream) await stopProcess(upstream.proc);
  }

  for (const r of out.results) {
    const m =
      opts.pick === 'best'
        ? [...r.rounds].sort((a, b) => b.stats.qps - a.stats.qps)[0]
        : median(r.rounds, (x) => x.stats.qps);
    if (m) r.summary = m;
  }
  const base = results.get('dnsmasq');
  if (base?.status === 'ok' && base.summary) {
    for (const r of out.results) {
      if (r.status !== 'ok' || !r.summary) continue;
      r.qpsRatio = r.summary.stats.qps / base.summary.stats.qps;
      r.latencyRatio = r.summary.stats.avgLatencyMs / base.summary.stats.avgLatencyMs;
      const a = r.summary.cpuUsPerQuery;
      const b = base.summary.cpuUsPerQuery;
      if (a !== null && b !== null && b > 0) r.cpuPerQueryRatio = a / b;
    }
  }
  const floor = results.get('bare');
  if (floor?.status === 'ok' && floor.summary) {
    for (const r of out.results) {
      if (r.status !== 'ok' || !r.summary) continue;
      r.qpsRatioBare = r.summary.stats.qps / floor.summary.stats.qps;
      const a = r.summary.cpuUsPerQuery;
      const b = floor.summary.cpuUsPerQuery;
      if (a !== null && b !== null && b > 0) r.cpuPerQueryRatioBare = a / b;
      const p = r.summary.percentiles?.p99Ms;
      const f = floor.summary.percentiles?.p99Ms;
      if (p !== undefined && f !== undefined && f > 0) r.p99RatioBare = p / f;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output

function fmt(n: number | null | undefined, digits: number): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

function printTable(sc: ScenarioResult, opts: Options): void {
  const header = [
    'server',
    'qps',
    'avg ms',
    'sd ms',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'lost %',
    'cpu %',
    'cpu µs/q',
    'dnsperf %',
    'other %',
    'RSS MiB',
    'qps×dnsmasq',
    'lat×dnsmasq',
    'cpu/q×dnsmasq',
    'qps×bare',
    'cpu/q×bare',
    'p99×bare',
  ];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const r of sc.results) {
    const s = r.summary;
    if (!s) {
      const [first, ...more] = (r.reason ?? '').split('\n');
      rows.push([r.server, `${r.status}: ${first}`]);
      for (const m of more) notes.push(`  ${r.server}: | ${m}`);
      continue;
    }
    const qps =
      r.rounds.length > 1
        ? `${Math.round(s.stats.qps)} (${Math.round(Math.min(...r.rounds.map((x) => x.stats.qps)))}–${Math.round(Math.max(...r.rounds.map((x) => x.stats.qps)))})`
        : String(Math.round(s.stats.qps));
    rows.push([
      r.status === 'ok' ? r.server : `${r.server} (INVALID)`,
      qps,
      fmt(s.stats.avgLatencyMs, 3),
      fmt(s.stats.stddevLatencyMs, 3),
      fmt(s.percentiles?.p50Ms, 3),
      fmt(s.percentiles?.p99Ms, 3),
      fmt(s.percentiles?.p999Ms, 3),
      fmt(s.stats.lostPct, 3),
      fmt(s.cpuPct, 0),
      fmt(s.cpuUsPerQuery, 1),
      fmt(s.dnsperfCpuPct, 0),
      fmt(s.otherCpuPct, 0),
      s.rssAfterKiB !== null ? fmt(s.rssAfterKiB / 1024, 1) : '-',
      fmt(r.qpsRatio, 2),
      fmt(r.latencyRatio, 2),
      fmt(r.cpuPerQueryRatio, 2),
      fmt(r.qpsRatioBare, 2),
      fmt(r.cpuPerQueryRatioBare, 2),
      fmt(r.p99RatioBare, 2),
    ]);
    const extra: string[] = [];
    extra.push(`rcodes ${Object.entries(s.stats.rcodes).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    extra.push(`${s.stats.sent} sent, ${s.stats.lost} lost (UDP rcvbuf drops ${s.udpRcvbufDrops ?? '?'})`);
    if (s.stealCpuPct !== null) extra.push(`steal ${fmt(s.stealCpuPct, 0)}% of a core`);
    if (s.rssIdleKiB !== null) extra.push(`RSS idle ${fmt(s.rssIdleKiB / 1024, 1)} MiB, peak ${fmt((s.hwmKiB ?? 0) / 1024, 1)} MiB`);
    if (s.percentiles) extra.push(`p90 ${fmt(s.percentiles.p90Ms, 3)} / p99.9 ${fmt(s.percentiles.p999Ms, 3)} / max ${fmt(s.percentiles.maxMs, 3)} ms`);
    if (s.gc) {
      const g = s.gc;
      extra.push(`GC in the run: ${g.scavenges} scavenges ${fmt(g.scavengeMs, 1)} ms (longest ${fmt(g.longestScavengeMs, 2)}), ${g.other} full ${fmt(g.otherMs, 1)} ms (longest ${fmt(g.longestOtherMs, 2)})`);
    }
    if (s.upstreamQueries !== undefined) extra.push(`upstream queries during run: ${s.upstreamQueries ?? 'unknown'}`);
    if (r.startupMs !== undefined) extra.push(`answering ${r.startupMs} ms after start`);
    if (r.probeTtl !== undefined) extra.push(`probe TTL ${r.probeTtl}`);
    notes.push(`  ${r.server}: ${extra.join('; ')}`);
    for (const w of s.warnings) notes.push(`  ${r.server}: WARNING ${w}`);
    if (r.status === 'invalid') notes.push(`  ${r.server}: INVALID ${r.reason}`);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length > 2).map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.length <= 2 && cells !== header
      ? `${cells[0]!.padEnd(widths[0]!)}  ${cells[1] ?? ''}`
      : cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const perf = [`-c ${opts.clients}`, `-q ${opts.outstanding}`, `-T ${opts.threads}`, `-t ${opts.timeout}`];
  const plannedQps = sc.maxQps ?? opts.maxQps;
  if (plannedQps !== undefined) perf.push(`-Q ${plannedQps}`);
  if (sc.transport === 'tcp') perf.push('-m tcp');
  console.log('');
  console.log(`== ${sc.scenario}: ${sc.description}`);
  console.log(
    `   dnsperf ${perf.join(' ')} -l ${opts.seconds}, warm-up ${opts.warmup} s${opts.rounds > 1 ? `, ${opts.rounds} rounds (${opts.pick} round shown, qps min–max in brackets)` : ''}${opts.pin ? ', pinned: server CPU 0, dnsperf CPU 1' : ''}${sc.upstream ? `, upstream ${sc.upstream}` : ''}`,
  );
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  if (notes.length) console.log(notes.join('\n'));
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) throw new Error(`Node ${process.version}: run with Node 24 (npm run bench / npx node)`);
  const opts = parseOptions(process.argv.slice(2));
  if (!which('dnsperf')) throw new Error('dnsperf not found (Debian package dnsperf)');
  if (!which('dig')) throw new Error('dig not found (Debian package bind9-dnsutils)');
  if (opts.only.includes('mesh-dns')) execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', join(REPO_ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });

  // Overall deadline: generous per-measurement allowance; kills everything if the run hangs.
  const perServerS = opts.quietWait + opts.warmup + opts.seconds + 60;
  const deadlineS = opts.scenarios.length * opts.only.length * opts.rounds * perServerS + 60;
  setTimeout(() => {
    console.error(`bench: overall deadline of ${deadlineS} s exceeded, killing all started processes`);
    killAllSync();
    process.exit(3);
  }, deadlineS * 1000).unref();

  const dir = mkdtempSync(join(tmpdir(), 'mesh-dns-bench-'));
  const ctx: StartContext = {
    dir, repoRoot: REPO_ROOT, pin: opts.pin, tag: '', meshDnsFlags: opts.meshDnsFlags, mainFlags: opts.mainFlags, meshDnsEnv: opts.meshDnsEnv, mainEnv: opts.mainEnv, traceGc: opts.traceGc,
    ...(opts.mainBuild !== undefined ? { mainBuild: opts.mainBuild } : {}),
    ...(opts.cpuProfDir !== undefined ? { cpuProfDir: opts.cpuProfDir } : {}),
  };
  const machine = await machineFacts();
  console.log('mesh-dns benchmark');
  console.log(
    `machine: nproc ${machine.nproc}, ${machine.cpuModel}, ${machine.memTotalMiB} MiB, kernel ${machine.kernel}, load ${(machine.loadavg as number[]).join(' ')}`,
  );
  console.log(
    `versions: node ${machine.node} (mesh-dns runs on ${machine.meshDnsNode}), dnsperf ${machine.dnsperf}, dnsmasq ${machine.dnsmasq}, unbound ${machine.unbound}, knotd ${machine.knotd}, mesh-dns git ${machine.gitHead}`,
  );
  console.log(`scratch: ${dir}`);
  const envText = (env: Record<string, string>) => Object.entries(env).map(([key, value]) => `${key}=${value}`).join(' ') || '(none)';
  console.log(`mesh-dns node flags: ${opts.meshDnsFlags.join(' ') || '(none)'}, env ${envText(opts.meshDnsEnv)}${opts.mainBuild ? `; mesh-dns-main: ${opts.mainBuild}, flags ${opts.mainFlags.join(' ') || '(none)'}, env ${envText(opts.mainEnv)}` : ''}`);

  const mesh = meshZone(opts.names);
  const plans: Record<ScenarioName, ScenarioPlan> = {
    'mesh-a': {
      name: 'mesh-a',
      description: `${opts.names} A records under ${mesh.zone} from local data (TTL ${mesh.ttlSeconds})`,
      local: mesh,
      queried: mesh,
      forwarded: false,
      transport: 'udp',
    },
    'mesh-negative': {
      name: 'mesh-negative',
      description: `NXDOMAIN (nope-<name> A) and NODATA (<name> AAAA) under ${mesh.zone}, alternating`,
      local: mesh,
      queried: mesh,
      forwarded: false,
      transport: 'udp',
      queries: mesh.records.map((r) => `nope-${fqdn(mesh, r)} A\n${fqdn(mesh, r)} AAAA\n`).join(''),
      rcodes: ['NOERROR', 'NXDOMAIN'],
    },
    'forward-cache': {
      name: 'forward-cache',
      description: 'cache hits for 100 forwarded names under example.test (upstream TTL 3600, cache warmed first)',
      local: mesh,
      queried: forwardZone(),
      forwarded: true,
      transport: 'udp',
    },
    'mesh-a-tcp': {
      name: 'mesh-a-tcp',
      description: `mesh A over TCP: each dnsperf client keeps one connection and pipelines up to -q queries (RFC 7766 §6.2.1.1)`,
      local: mesh,
      queried: mesh,
      forwarded: false,
      transport: 'tcp',
    },
    latency: {
      name: 'latency',
      description: `mesh A at a fixed ${opts.latencyQps} qps offered (dnsperf -Q): the latency tail when nobody is saturated`,
      local: mesh,
      queried: mesh,
      forwarded: false,
      transport: 'udp',
      maxQps: opts.latencyQps,
    },
  };

  const scenarios: ScenarioResult[] = [];
  let failed = false;
  try {
    for (const name of opts.scenarios) scenarios.push(await runScenario(plans[name], opts, ctx));
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    for (const sc of scenarios) printTable(sc, opts);
    const invalid = scenarios.some((sc) => sc.results.some((r) => r.status === 'invalid'));
    if (opts.json) {
      const { json: _json, ...shown } = opts;
      writeFileSync(
        opts.json,
        JSON.stringify({ startedAt: new Date().toISOString(), machine, options: shown, scenarios }, null, 2) + '\n',
      );
      console.log(`\nJSON written to ${opts.json}`);
    }
    if (opts.keep || failed || invalid) console.log(`\nconfigs and logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  return scenarios.some((sc) => sc.results.some((r) => r.status === 'invalid')) ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`bench: ${sig}, stopping all started processes`);
    killAllSync();
    process.exit(130);
  });
}

main().then(
  (code) => {
    killAllSync();
    process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof UsageError) console.error(`bench: ${err.message} (npm run bench -- --help)`);
    else console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    killAllSync();
    process.exit(2);
  },
);
