/*
 * Registry changes without stalls (issue 9 item 5), against the REAL MCP Mesh registry binary on
 * loopback. For each agent count: register the agents (POST /heartbeat, 32 in parallel, timed),
 * start mesh-dns (dist/main.js, the shipped build) — and, with --baseline, the same build of
 * another git ref beside it — then alternate, per server, two phases of --phase seconds:
 *   idle: the registry is polled (2 s) but nothing changes;
 *   sync: one agent moves to a new address every poll interval, so every poll applies a change.
 * During each phase a Node UDP sender asks a static name (a config record, never touched by the
 * registry) at a fixed rate and times every answer; the server itself records its event-loop
 * delay with perf_hooks.monitorEventLoopDelay and the longest stretch of main-thread CPU time
 * between two 1 ms timer ticks (loop-stall-probe.ts, preloaded). Printed per server and phase:
 * p50/p99/p99.9/max of the static name, lost queries, the longest loop delay and busy stretch.
 *
 *   npm run bench:registry                                    # 10,000 and 20,000 agents, vs main
 *   npx node test/bench/registry-stall.ts --agents 10000 --phase 10 --rounds 1 --baseline none
 *   npm run bench:registry -- --baseline HEAD --baseline-flags=--max-semi-space-size=1   # one build, two flag sets
 * Each mesh-dns runs with the Node flags and the environment of bin/mesh-dns (as the image runs it)
 * unless --node-flags / --baseline-flags and --env / --baseline-env (KEY=VALUE, repeatable; KEY=
 * removes KEY: --baseline-env MALLOC_ARENA_MAX= measures without the launcher's malloc setting) say
 * otherwise.
 *
 * The machine may be shared: phases of the two servers are interleaved round by round, so load
 * from elsewhere hits both alike; the in-process stall figure is the least load-sensitive one.
 */

import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { shippedEnvironment, shippedNodeFlags, withEnvironment } from './servers.ts';
import { NODE_BINARY, REPO_ROOT, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { agentBody, startRegistry, type TestRegistry } from '../support/registry.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '10000,20000' },
    phase: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    rate: { type: 'string', default: '1000' },
    poll: { type: 'string', default: '2' },
    baseline: { type: 'string', default: 'main' },
    /** Node flags of this build's mesh-dns (default: those bin/mesh-dns ships with). */
    'node-flags': { type: 'string' },
    /** Node flags of the baseline's mesh-dns (default: --node-flags). */
    'baseline-flags': { type: 'string' },
    /** Environment of this build's mesh-dns over bin/mesh-dns's exports (KEY=VALUE; KEY= removes KEY). */
    env: { type: 'string', multiple: true, default: [] },
    /** The same for the baseline (default: --env). */
    'baseline-env': { type: 'string', multiple: true },
  },
});
const AGENT_COUNTS = values.agents.split(',').map(Number);
const PHASE_MS = Number(values.phase) * 1000;
const ROUNDS = Number(values.rounds);
const RATE = Number(values.rate);
const POLL_MS = Number(values.poll) * 1000;
const STATIC_NAME = 'static-probe.mesh.local';
const PROBE = join(REPO_ROOT, 'test/bench/loop-stall-probe.ts');

interface Server {
  label: string;
  main: string;
  /** Node flags before the build's dist/main.js. */
  flags: string[];
  /** What the launcher would export (bin/mesh-dns), with --env / --baseline-env applied. */
  env: Record<string, string>;
}

/** tsc of a tree into its dist/; the baseline is `git archive <ref>` beside node_modules. */
function build(ref: string | null): string {
  if (ref === null) {
    execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', join(REPO_ROOT, 'tsconfig.build.json')]);
    return join(REPO_ROOT, 'dist/main.js');
  }
  const dir = mkdtempSync(join(tmpdir(), 'mesh-dns-baseline-'));
  execFileSync('sh', ['-c', `git -C "${REPO_ROOT}" archive "${ref}" | tar -x -C "${dir}"`]);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.build.json')]);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'dist/main.js');
}

function agentId(index: number): string {
  return `agent-${String(index).padStart(5, '0')}-00000000`.slice(0, 20);
}

function heartbeatFor(index: number, host: string) {
  return agentBody(agentId(index), `agent-${index}`, host, 8000, [{ capability: `cap_${index % 50}` }, { capability: `tool_${index % 7}` }]);
}

/** POST /heartbeat for agents [from, to), `parallel` at a time. */
async function registerMany(registry: TestRegistry, from: number, to: number, parallel = 32): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const index = next++;
      await registry.heartbeat(heartbeatFor(index, `10.${(index >> 16) & 0xff}.${(index >> 8) & 0xff}.${index & 0xff}`));
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

function aQuery(id: number, name: string): Buffer {
  const labels = name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]));
  return Buffer.concat([Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** The A addresses answered for `name` ([] on NXDOMAIN or timeout). Loopback only. */
function queryA(port: number, name: string): Promise<string[]> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const query = aQuery(Math.floor(Math.random() * 0xffff), name);
    const timer = setTimeout(() => {
      socket.close();
      resolve([]);
    }, 1000);
    socket.on('message', (message) => {
      clearTimeout(timer);
      socket.close();
      const addresses: string[] = [];
      let offset = query.length;
      for (let index = 0; index < message.readUInt16BE(6); index++) {
        const type = message.readUInt16BE(offset + 2);
        const length = message.readUInt16BE(offset + 10);
        if (type === 1) addresses.push([...message.subarray(offset + 12, offset + 16)].join('.'));
        offset += 12 + length;
      }
      resolve(addresses);
    });
    socket.send(query, port, '127.0.0.1');
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not seen within ${timeoutMs} ms`);
}

interface PhaseResult {
  latencies: number[];
  sent: number;
  stalls: [number, number][];
}

/** Fixed-rate UDP queries of STATIC_NAME for `durationMs`; each answer timed by its ID. */
async function queryLoop(port: number, durationMs: number): Promise<{ latencies: number[]; sent: number }> {
  const socket = dgram.createSocket('udp4');
  const sentAt = new Float64Array(65536);
  const latencies: number[] = [];
  socket.on('message', (message) => {
    const id = message.readUInt16BE(0);
    if (sentAt[id]! > 0) {
      latencies.push(performance.now() - sentAt[id]!);
      sentAt[id] = 0;
    }
  });
  let sent = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.min(Math.floor((elapsed * RATE) / 1000), Math.floor((durationMs * RATE) / 1000));
      while (sent < due) {
        const id = sent & 0xffff;
        sentAt[id] = performance.now();
        socket.send(aQuery(id, STATIC_NAME), port, '127.0.0.1');
        sent++;
      }
      if (elapsed >= durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  await new Promise((resolve) => setTimeout(resolve, 1500)); // stragglers; later ones count as lost
  socket.close();
  return { latencies, sent };
}

/** The probe's windows between two epoch times: [max wall delay, longest CPU-busy stretch] in ms. */
function stallsBetween(file: string, from: number, to: number): [number, number][] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => line.split(' ').map(Number) as [number, number, number])
    .filter(([at]) => at > from && at <= to + 250).map(([, delay, busy]) => [delay, busy]);
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measureCount(count: number, servers: Server[]): Promise<void> {
  const registry = await startRegistry({ timeoutThreshold: 3600 });
  const processes: { server: Server; mesh: MeshDnsProcess; loopFile: string }[] = [];
  try {
    const registerStart = performance.now();
    await registerMany(registry, 0, count);
    const registerSeconds = (performance.now() - registerStart) / 1000;
    for (const server of servers) {
      const loopFile = join(mkdtempSync(join(tmpdir(), 'mesh-dns-loop-')), 'loop.txt');
      writeFileSync(loopFile, '');
      const mesh = await startMeshDnsProcess({
        configYaml: `zone:\n  records:\n    - { name: static-probe, type: A, value: 192.0.2.53 }\n`,
        env: {
          MCP_MESH_REGISTRY_URL: registry.url,
          MESH_DNS_LOG_LEVEL: 'warn',
          MCP_MESH_NETWORK_TIMEOUT: '20s',
          MESH_DNS_REGISTRY_POLL_INTERVAL: `${POLL_MS}ms`,
          BENCH_LOOP_STALL_FILE: loopFile,
          ...server.env,
        },
        wrap: (command) => [NODE_BINARY, ...server.flags, '--import', PROBE, server.main, ...command.slice(2)],
      });
      processes.push({ server, mesh, loopFile });
      await waitFor(async () => (await queryA(mesh.dnsPort, `agent-${count - 1}.mesh.local`)).length === 1, 120_000);
    }
    // Let the start-up compile and the first snapshot write settle.
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_MS));

    const results = new Map<string, PhaseResult>();
    let move = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const { server, mesh, loopFile } of processes) {
        for (const phase of ['idle', 'sync'] as const) {
          let mover: NodeJS.Timeout | null = null;
          if (phase === 'sync') {
            const changeOne = () => {
              const index = move % count;
              move++;
              void registry.heartbeat(heartbeatFor(index, `10.250.${(move >> 8) & 0xff}.${move & 0xff}`)).catch(() => undefined);
            };
            changeOne();
            mover = setInterval(changeOne, POLL_MS);
          }
          const from = Date.now();
          const loop = await queryLoop(mesh.dnsPort, PHASE_MS);
          const to = Date.now();
          if (mover) clearInterval(mover);
          const key = `${server.label}|${phase}`;
          const result = results.get(key) ?? { latencies: [], sent: 0, stalls: [] };
          result.latencies.push(...loop.latencies);
          result.sent += loop.sent;
          result.stalls.push(...stallsBetween(loopFile, from, to));
          results.set(key, result);
          // Between phases: the last change is applied before the next idle phase starts.
          await new Promise((resolve) => setTimeout(resolve, 2 * POLL_MS));
        }
      }
    }
    const last = `10.250.${(move >> 8) & 0xff}.${move & 0xff}`;
    // How long after the last phase each server answers the last move: at 20,000 agents a poll
    // (the registry serialising its body for two pollers on two cores) can take longer than the
    // pause between phases, so "not yet" is told apart from "never" by waiting up to a minute.
    const lastAppliedAt = Date.now();
    const applied = await Promise.all(processes.map(async ({ mesh }) => {
      let answer = '';
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 250))) {
        answer = (await queryA(mesh.dnsPort, `agent-${(move - 1) % count}.mesh.local`)).join();
        if (answer === last) return { answer, seconds: (Date.now() - lastAppliedAt) / 1000 };
      }
      return { answer, seconds: Number.NaN };
    }));

    console.log(`\n${count} agents: registered in ${registerSeconds.toFixed(1)} s (${(count / registerSeconds).toFixed(0)}/s, 32 parallel POST /heartbeat); ${move} agent moves, one per ${POLL_MS / 1000} s poll; static name at ${RATE} qps, ${ROUNDS} × ${PHASE_MS / 1000} s per phase`);
    console.log('  server    phase  answered/sent     p50 ms  p99 ms  p99.9 ms  max ms  | in-process: longest loop delay (wall) ms, longest busy stretch (CPU) ms');
    const p99 = new Map<string, number>();
    for (const { server } of processes) {
      for (const phase of ['idle', 'sync']) {
        const result = results.get(`${server.label}|${phase}`)!;
        const sorted = [...result.latencies].sort((a, b) => a - b);
        p99.set(`${server.label}|${phase}`, quantile(sorted, 0.99));
        const cells = [quantile(sorted, 0.5), quantile(sorted, 0.99), quantile(sorted, 0.999), sorted.at(-1) ?? Number.NaN].map((value) => value.toFixed(2).padStart(7));
        console.log(`  ${server.label.padEnd(8)}  ${phase.padEnd(5)}  ${`${sorted.length}/${result.sent}`.padEnd(15)} ${cells.join(' ')}  | ${Math.max(...result.stalls.map(([delay]) => delay)).toFixed(1).padStart(7)} ${Math.max(...result.stalls.map(([, busy]) => busy)).toFixed(1).padStart(7)}`);
      }
    }
    for (const { server } of processes) {
      console.log(`  ${server.label}: sync p99 / idle p99 = ${(p99.get(`${server.label}|sync`)! / p99.get(`${server.label}|idle`)!).toFixed(2)}×`);
    }
    console.log(`  last move (agent-${(move - 1) % count} → ${last}) served by: ${processes.map(({ server }, index) => `${server.label} ${applied[index]!.answer === last ? `yes (${applied[index]!.seconds.toFixed(1)} s after the last phase)` : `no within 60 s (${applied[index]!.answer})`}`).join(', ')}`);
  } finally {
    for (const { mesh } of processes) await mesh.stop();
    await registry.stop();
  }
}

try {
  const servers: Server[] = [];
  // As the image runs it: the flags of bin/mesh-dns unless told otherwise.
  const splitFlags = (text: string) => text.split(/\s+/).filter(Boolean);
  const flags = values['node-flags'] === undefined ? shippedNodeFlags(REPO_ROOT) : splitFlags(values['node-flags']);
  const baselineFlags = values['baseline-flags'] === undefined ? flags : splitFlags(values['baseline-flags']);
  const env = withEnvironment(shippedEnvironment(REPO_ROOT), values.env);
  const baselineEnv = values['baseline-env'] === undefined ? env : withEnvironment(shippedEnvironment(REPO_ROOT), values['baseline-env']);
  if (values.baseline !== 'none') servers.push({ label: values.baseline.slice(0, 8), main: build(values.baseline), flags: baselineFlags, env: baselineEnv });
  servers.push({ label: 'this', main: build(null), flags, env });
  const envText = (server: Server) => Object.entries(server.env).map(([key, value]) => `${key}=${value} `).join('');
  for (const server of servers) console.log(`${server.label}: ${envText(server)}node ${server.flags.join(' ') || '(no flags)'} ${server.main}`);
  console.log(`node ${process.version}, mcp-mesh-registry from @mcpmesh/cli-linux-x64, loopback only; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  for (const count of AGENT_COUNTS) await measureCount(count, servers);
} finally {
  await stopAllProcesses();
}
