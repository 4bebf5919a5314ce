/*
 * Memory of mesh-dns as it ships (dist/main.js, built at the start), side by side in one run with
 * the floor: a bare Node process on the same runtime. Issue 9 item 4 (a sidecar's memory).
 *
 *   npm run bench:memory                                  # everything below, 10,000 agents, 100,000 cache entries
 *   npm run bench:memory -- --agents 2000 --cache 20000   # smaller
 *   npm run bench:memory -- --snapshot                    # + a heap snapshot at the end, top constructors
 *   npm run bench:memory -- --node-flags=--max-semi-space-size=1   # other Node flags (default: bin/mesh-dns's; --node-flags= for none)
 *   npm run bench:memory -- --main /path/in/the/repo/dist/main.js   # another build (it resolves node_modules from there)
 *   npm run bench:memory -- --env MALLOC_ARENA_MAX=1 --env …  # environment of every mesh-dns started over what
 *                                                         # bin/mesh-dns exports (repeatable; KEY= removes KEY)
 *   npm run bench:memory -- --snapshot --keep-snapshot /tmp/x.heapsnapshot     # keep the snapshot for a retainer analysis
 *   npm run bench:memory -- --later 60                    # watch RSS 60 s after the last step (default 30)
 *   npm run bench:memory -- --later 600 --scrape-every 60 # … reading /metrics once a minute, not every 10 s
 *   npm run bench:memory -- --smaps                       # + anonymous memory by kind of mapping at each step
 *
 * Rows (VmRSS from /proc/<pid>/status after the process settled; medians of --runs for the idle rows):
 *   bare node          `node -e 'setInterval(…)'`: Node's own floor on this machine.
 *   mesh-dns idle      no registry, default config.
 *   … after serving    the same process 2 s after answering 5,000 queries from its own data (local
 *                      names, NODATA, NXDOMAIN): V8's optimising compilers then run for the hot path
 *                      and their code pages in the node binary become resident (README, Memory).
 *   + registry, 0      the REAL registry binary (test/support/registry.ts) configured, no agents.
 *   + 1k / N agents    the same process after the registry holds 1,000 then N agents and every
 *                      agent's name was asked once (answers encoded); growth per agent is the slope.
 *   + C cache entries  the same process after C distinct names were forwarded to a real knot
 *                      upstream (test/support/knot.ts, a wildcard zone) by a Node UDP sender on
 *                      loopback; meshdns_cache_entries shows how many were kept.
 *   import costs       a child loads node:http, net, dgram (what the server needs anyway),
 *                      then one package the way mesh-dns loads it or the way it used to: +RSS.
 *
 * Loopback only: registry, knot and mesh-dns listen on 127.0.0.1; mesh-dns gets the test resolv.conf.
 */

import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { shippedEnvironment, shippedNodeFlags, withEnvironment } from './servers.ts';
import { anonymousByMapping } from './smaps.ts';
import { fillCache, WILDCARD_TEST_ZONE } from '../support/forward-fill.ts';
import { startKnot, type KnotServer } from '../support/knot.ts';
import { MAIN, NODE_BINARY, REPO_ROOT, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { startRegistry, type TestRegistry } from '../support/registry.ts';
import { queryA, registerMany, rssOf, waitFor } from './registry-load.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '10000' },
    cache: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    snapshot: { type: 'boolean', default: false },
    /** Node flags of every mesh-dns started (default: those bin/mesh-dns ships with; --node-flags= for none). */
    'node-flags': { type: 'string' },
    'skip-imports': { type: 'boolean', default: false },
    /** Measure another build instead of building dist/ (e.g. main's, for a before/after). */
    main: { type: 'string' },
    /** KEY=VALUE added to every mesh-dns's environment (malloc tuning, …): experiments stay reproducible. */
    env: { type: 'string', multiple: true, default: [] },
    /** Copy the --snapshot file here instead of deleting it. */
    'keep-snapshot': { type: 'string' },
    /** Seconds to keep watching RSS after the last step, registry polls going on (0: none). */
    later: { type: 'string', default: '30' },
    /**
     * Read /metrics (the V8 heap and external memory) in the --later samples only every this many
     * seconds; the others read /proc alone. Each reading is three scrapes, and at the default (every
     * 10 s sample) they promote garbage of their own: 10,000 agents + 100,000 names climbed ~0.3
     * MiB a minute with them and held flat without (2026-12-06). 60 is closer to a Prometheus.
     */
    'scrape-every': { type: 'string', default: '10' },
    /** Also print where the anonymous memory is, by kind of mapping (/proc/<pid>/smaps), at each step. */
    smaps: { type: 'boolean', default: false },
  },
});
const AGENTS = Number(values.agents);
const CACHE_ENTRIES = Number(values.cache);
const RUNS = Number(values.runs);
const NODE_FLAGS = values['node-flags'] === undefined ? shippedNodeFlags(REPO_ROOT) : values['node-flags'].split(/\s+/).filter(Boolean);
const SETTLE_MS = 1500;
/** What bin/mesh-dns exports before it execs node (MALLOC_ARENA_MAX), with --env applied (KEY= removes KEY). */
const LAUNCHER_ENV = withEnvironment(shippedEnvironment(REPO_ROOT), values.env);

if (!values.main) execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', join(REPO_ROOT, 'tsconfig.build.json')]);
const DIST_MAIN = values.main ?? join(REPO_ROOT, 'dist/main.js');
/** dist/main.js instead of src/main.ts (the type-stripping compiler would add ~30 MiB), with --node-flags. */
const shipped = (command: string[]) => command.flatMap((part) => (part === MAIN ? [...NODE_FLAGS, DIST_MAIN] : [part]));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
const mib = (value: number) => `${value.toFixed(1)} MiB`;

const rows: { what: string; rss: number; note: string }[] = [];
function row(what: string, rss: number, note = ''): void {
  rows.push({ what, rss, note });
  console.log(`  ${what.padEnd(44)} ${mib(rss).padStart(10)}  ${note}`);
}

async function bareNodeRss(): Promise<number> {
  const child = spawn(NODE_BINARY, [...NODE_FLAGS, '-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  try {
    await sleep(SETTLE_MS);
    return rssOf(child.pid!).rssMiB;
  } finally {
    child.kill('SIGKILL');
  }
}

const SERVED_QUERIES = 5000;

/** Idle RSS, then RSS after SERVED_QUERIES answered from local data (8 in flight). */
async function meshDnsIdleRss(env: NodeJS.ProcessEnv = {}): Promise<{ idle: number; served: number }> {
  const mesh = await startMeshDnsProcess({ wrap: shipped, env: { MESH_DNS_LOG_LEVEL: 'warn', ...env, ...LAUNCHER_ENV } });
  try {
    await sleep(SETTLE_MS);
    const idle = rssOf(mesh.process.pid).rssMiB;
    const names = ['localhost', 'mesh.local', 'nope.mesh.local'];
    let next = 0;
    const worker = async () => {
      while (next < SERVED_QUERIES) await queryA(mesh.dnsPort, names[next++ % names.length]!);
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await sleep(SETTLE_MS);
    return { idle, served: rssOf(mesh.process.pid).rssMiB };
  } finally {
    await mesh.stop();
  }
}

async function metric(mesh: MeshDnsProcess, name: string): Promise<number> {
  const text = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
  // Summed over label sets (meshdns_cache_entries{type="success"}, …).
  let sum = Number.NaN;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum = (Number.isNaN(sum) ? 0 : sum) + Number(match[1]);
  return sum;
}

/**
 * Where the RSS is: anonymous vs file-backed pages (/proc/<pid>/smaps_rollup) and V8's own view
 * (heap committed and live, ArrayBuffer/external memory outside the heap), from /metrics.
 * Anonymous minus the V8 heap and external memory is mostly malloc's (arenas, fragmentation).
 */
async function breakdown(mesh: MeshDnsProcess, scrape = true): Promise<string> {
  const rollup = readFileSync(`/proc/${mesh.process.pid}/smaps_rollup`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? Number.NaN) / 1024;
  if (!scrape) return `anonymous ${mib(kib('Anonymous'))}, file ${mib(kib('Rss') - kib('Anonymous'))}`;
  const metricMiB = async (name: string) => (await metric(mesh, name)) / 1048576;
  const heapTotal = await metricMiB('meshdns_nodejs_heap_size_total_bytes');
  const heapUsed = await metricMiB('meshdns_nodejs_heap_size_used_bytes');
  const external = await metricMiB('meshdns_nodejs_external_memory_bytes');
  const line = `anonymous ${mib(kib('Anonymous'))}, file ${mib(kib('Rss') - kib('Anonymous'))}; V8 heap ${mib(heapTotal)} committed, ${mib(heapUsed)} used; external ${mib(external)}`;
  if (!values.smaps) return line;
  const byKind = [...anonymousByMapping(readFileSync(`/proc/${mesh.process.pid}/smaps`, 'utf8'))].sort((a, b) => b[1] - a[1]);
  return `${line}\n    anonymous by mapping: ${byKind.map(([kind, kib]) => `${kind} ${mib(kib / 1024)}`).join(', ')}`;
}

/** Registers agents up to `count`, waits until mesh-dns answers the last one, asks every name once. */
async function loadAgents(registry: TestRegistry, mesh: MeshDnsProcess, from: number, count: number): Promise<void> {
  await registerMany(registry, count, from);
  await waitFor(async () => (await queryA(mesh.dnsPort, `agent-${count - 1}.mesh.local`)).length === 1, 120_000);
  // One retry: a zone recompile during a poll can stall an answer past queryA's 1 s (issue 9 item 5).
  for (let index = 0; index < count; index++) await queryA(mesh.dnsPort, `agent-${index}.mesh.local`).catch(() => queryA(mesh.dnsPort, `agent-${index}.mesh.local`));
}

/** Top constructors by self size in a heap snapshot (V8's JSON format). */
function topConstructors(file: string, limit = 15): string[] {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field)) as [number, number, number];
  const totals = new Map<string, { bytes: number; count: number }>();
  let all = 0;
  for (let index = 0; index < snapshot.nodes.length; index += fields.length) {
    const type = types[snapshot.nodes[index + typeAt]!]!;
    const name = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${snapshot.strings[snapshot.nodes[index + nameAt]!]}` : type;
    const size = snapshot.nodes[index + sizeAt]!;
    all += size;
    const entry = totals.get(name) ?? { bytes: 0, count: 0 };
    entry.bytes += size;
    entry.count++;
    totals.set(name, entry);
  }
  return [`heap snapshot: ${mib(all / 1048576)} in ${snapshot.nodes.length / fields.length} objects; top by self size:`,
    ...[...totals].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, limit)
      .map(([name, { bytes, count }]) => `    ${mib(bytes / 1048576).padStart(10)}  ${String(count).padStart(8)} × ${name.slice(0, 70)}`)];
}

async function heapSnapshot(mesh: MeshDnsProcess): Promise<void> {
  process.kill(mesh.process.pid, 'SIGUSR2');
  let file: string | undefined;
  await waitFor(async () => {
    file = readdirSync(mesh.dir).find((name) => name.endsWith('.heapsnapshot'));
    if (!file) return false;
    const size = readFileSync(join(mesh.dir, file)).length;
    await sleep(500);
    return size > 0 && readFileSync(join(mesh.dir, file)).length === size;
  }, 120_000);
  for (const line of topConstructors(join(mesh.dir, file!))) console.log(line);
  if (values['keep-snapshot']) copyFileSync(join(mesh.dir, file!), values['keep-snapshot']);
  rmSync(join(mesh.dir, file!));
}

/** One child per package: +RSS of loading it after what the server needs anyway. */
const IMPORTS: { what: string; code: string }[] = [
  { what: '(control: an empty CommonJS module, subtracted)', code: "require(path.join(req.resolve('dns2'), '../package.json'))" },
  { what: "import 'node:http' (ES import: loads undici)", code: "await import('node:http')" },
  { what: "fetch() first request (undici)", code: "const s = http.createServer((q, r) => r.end('{}')).listen(0, '127.0.0.1'); await new Promise((r) => s.on('listening', r)); await (await fetch(`http://127.0.0.1:${s.address().port}/`)).text(); s.close()" },
  { what: "prom-client (package index)", code: "require('prom-client')" },
  { what: "prom-client registry+counter+gauge+histogram", code: "for (const m of ['registry', 'counter', 'gauge', 'histogram']) require(`prom-client/lib/${m}`)" },
  { what: "@opentelemetry/api (prom-client's CPU metric)", code: "require(req.resolve('@opentelemetry/api', { paths: [req.resolve('prom-client')] }))" },
  { what: "dns2 (package index)", code: "require('dns2')" },
  { what: "dns2 packet.js (the codec only, with node:crypto)", code: "require(path.join(path.dirname(req.resolve('dns2')), 'packet.js'))" },
  { what: "dns2 packet.js as mesh-dns loads it (no node:crypto)", code: `await import(${JSON.stringify(join(dirname(DIST_MAIN), 'wire/dns2-packet.js'))})` },
  { what: "yaml", code: "require('yaml')" },
  { what: "pino", code: "require('pino')({ level: 'warn' })" },
  { what: "lru-cache", code: "await import('lru-cache')" },
  { what: "ipaddr.js", code: "require('ipaddr.js')" },
];

function importCost(code: string): number {
  const script = `
    import { createRequire } from 'node:module';
    import { readFileSync } from 'node:fs';
    const req = createRequire(${JSON.stringify(join(REPO_ROOT, 'package.json'))});
    const require = req;
    const path = req('node:path');
    const http = req('node:http'); req('node:net'); req('node:dgram');
    const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    const settle = async () => { globalThis.gc(); await new Promise((r) => setTimeout(r, 300)); globalThis.gc(); };
    await settle();
    const before = rss();
    ${code};
    await settle();
    console.log(rss() - before);`;
  return Number(execFileSync(NODE_BINARY, [...NODE_FLAGS, '--expose-gc', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' }).trim());
}

console.log(`mesh-dns memory (${DIST_MAIN}), node ${process.version}${NODE_FLAGS.length > 0 ? ` ${NODE_FLAGS.join(' ')}` : ''}${Object.keys(LAUNCHER_ENV).length > 0 ? `, env ${Object.entries(LAUNCHER_ENV).map(([key, value]) => `${key}=${value}`).join(' ')}` : ''}, ${new Date().toISOString()}, loopback only`);
try {
  const bare: number[] = [];
  const idle: number[] = [];
  const served: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    bare.push(await bareNodeRss());
    const measured = await meshDnsIdleRss();
    idle.push(measured.idle);
    served.push(measured.served);
  }
  const runs = (values: number[]) => `runs: ${values.map((value) => value.toFixed(1)).join(', ')}`;
  row('bare node (the floor)', median(bare), runs(bare));
  row('mesh-dns idle, no registry', median(idle), `${runs(idle)}; ${(median(idle) - median(bare)).toFixed(1)} MiB above the floor`);
  row(`  … after serving ${SERVED_QUERIES} queries`, median(served), `${runs(served)}; ${(median(served) - median(bare)).toFixed(1)} MiB above the floor`);

  const registry = await startRegistry({ timeoutThreshold: 3600 });
  const knot: KnotServer = await startKnot({ zones: [WILDCARD_TEST_ZONE] });
  const mesh = await startMeshDnsProcess({
    wrap: (command) => shipped(command).flatMap((part) => (part === DIST_MAIN && values.snapshot ? ['--heapsnapshot-signal=SIGUSR2', part] : [part])),
    env: {
      MCP_MESH_REGISTRY_URL: registry.url, MESH_DNS_LOG_LEVEL: 'warn', MCP_MESH_NETWORK_TIMEOUT: '10s',
      MESH_DNS_UPSTREAMS: `127.0.0.1:${knot.port}`, MESH_DNS_CACHE_SIZE: String(Math.max(CACHE_ENTRIES, 10_000)),
      // Room for every entry: the byte bound (64 MiB default) would otherwise evict before the count does.
      MESH_DNS_CACHE_MAX_BYTES: String(4 * 1024 * 1024 * 1024),
      ...LAUNCHER_ENV,
    },
  });
  await sleep(SETTLE_MS);
  const empty = rssOf(mesh.process.pid).rssMiB;
  row('mesh-dns + real registry, 0 agents', empty);
  if (values.smaps) console.log(`    ${await breakdown(mesh)}`);
  const first = Math.min(1000, AGENTS);
  await loadAgents(registry, mesh, 0, first);
  await sleep(SETTLE_MS);
  const atFirst = rssOf(mesh.process.pid).rssMiB;
  row(`+ ${first} agents`, atFirst, `zone ${await metric(mesh, 'meshdns_zone_records')} records`);
  let atAgents = atFirst;
  if (AGENTS > first) {
    const started = performance.now();
    await loadAgents(registry, mesh, first, AGENTS);
    await sleep(SETTLE_MS);
    atAgents = rssOf(mesh.process.pid).rssMiB;
    row(`+ ${AGENTS} agents`, atAgents, `zone ${await metric(mesh, 'meshdns_zone_records')} records; loaded in ${((performance.now() - started) / 1000).toFixed(0)} s; peak ${mib(rssOf(mesh.process.pid).hwmMiB)}`);
    console.log(`    ${await breakdown(mesh)}`);
    console.log(`  growth per agent: ${(((atAgents - atFirst) * 1024 * 1024) / (AGENTS - first) / 1024).toFixed(2)} KiB (RSS slope from ${first} to ${AGENTS} agents)`);
  }
  if (CACHE_ENTRIES > 0) {
    const started = performance.now();
    const answered = await fillCache(mesh.dnsPort, CACHE_ENTRIES);
    await sleep(SETTLE_MS);
    const atCache = rssOf(mesh.process.pid).rssMiB;
    const entries = await metric(mesh, 'meshdns_cache_entries');
    const bytes = await metric(mesh, 'meshdns_cache_bytes');
    row(`+ ${CACHE_ENTRIES} forwarded names (with ${AGENTS} agents)`, atCache, `${answered} answered in ${((performance.now() - started) / 1000).toFixed(0)} s; cache ${entries} entries, ${mib(bytes / 1048576)} counted; peak ${mib(rssOf(mesh.process.pid).hwmMiB)}`);
    console.log(`    ${await breakdown(mesh)}`);
    console.log(`  growth per cache entry: ${(((atCache - atAgents) * 1024 * 1024) / entries).toFixed(0)} B of RSS (counted ${(bytes / entries).toFixed(0)} B)`);
  }
  // What a sidecar holds once the burst is over: V8 gives heap pages back only after some quiet
  // (its memory reducer), while registry polls go on allocating.
  const laterSeconds = Number(values.later);
  for (let waited = 0; waited < laterSeconds; ) {
    const step = Math.min(waited < 10 ? 10 - waited : 10, laterSeconds - waited);
    await sleep(step * 1000);
    waited += step;
    row(`  … ${waited} s later`, rssOf(mesh.process.pid).rssMiB, await breakdown(mesh, waited % Number(values['scrape-every']) === 0));
  }
  if (values.snapshot) await heapSnapshot(mesh);
  await mesh.stop();
  await knot.stop();
  await registry.stop();

  if (!values['skip-imports']) {
    console.log('import costs (+RSS after gc, over node:http + net + dgram loaded by require; median of 3):');
    let control = 0;
    for (const { what, code } of IMPORTS) {
      const cost = median([importCost(code), importCost(code), importCost(code)]);
      if (what.startsWith('(control')) control = cost;
      console.log(`  ${what.padEnd(48)} ${`+${cost.toFixed(1)} MiB`.padStart(10)}${what.startsWith('(control') ? '' : `  (${(cost - control).toFixed(1)} MiB above the control)`}`);
    }
  }
} finally {
  await stopAllProcesses();
}
