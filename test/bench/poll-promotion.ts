/*
 * What one registry poll leaves in the old generation (issue 9 item 4: RSS climbs while a 10,000-agent
 * registry is polled). In-process: a GET /agents body of N agents shaped like the registry's
 * (test/unit/registry/corpus/real-agents.json's first agent, ids and addresses varied), fed to
 * the sync's reader and projector in 64 KiB chunks with the event loop let in between, as
 * client.ts does; the projection of one poll is the `served` list of the next, no agent changing.
 * Run with the shipped young generation and --trace-gc-nvp; prints per poll the bytes scavenges
 * promoted and the old generation's growth.
 *
 *   npx node --max-semi-space-size=1 --heap-growing-percent=20 --trace-gc-nvp test/bench/poll-promotion.ts --agents 10000 --polls 10 | grep '^poll'
 *
 * With --allocations, the polls after the third are also sampled by V8's allocation sampler
 * (objects collected by scavenges and full GCs included): MiB allocated per poll in all, and by the
 * function that allocated them.
 *
 *   npx node --max-semi-space-size=1 test/bench/poll-promotion.ts --agents 10000 --polls 6 --allocations
 *
 * With --http, each poll goes through the registry client (fetchAgents, node:http, its timeout and
 * the caller's signal) against a loopback server in a child process that sends the body chunked in
 * 4 KiB writes; the run ends with the old generation's growth per poll over the polls after the
 * third (no full GC comes within it at these sizes, so the growth is what scavenges promoted).
 * With --promoted, the sampler keeps only what no scavenge collected: the promoted objects, by the
 * function that allocated them.
 *
 *   npx node --max-semi-space-size=1 --heap-growing-percent=20 --no-maglev test/bench/poll-promotion.ts --agents 10000 --polls 40 --http --promoted
 *
 * With --expose-gc, --promoted lets two scavenges run before the profile is taken, so young objects
 * no scavenge had reached yet are not counted as promoted. With --body FILE, the body is one saved
 * from the real registry (curl <registry>/agents > FILE, after test/bench/registry-load.ts's
 * registerMany: its agents have two capabilities each) instead of the synthetic one; add
 * --no-turbofan to measure a poll as the server runs it before it is busy (bin/mesh-dns).
 */

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Session } from 'node:inspector/promises';
import { AgentsBodyReader, DEFAULT_AGENTS_BODY_LIMITS } from '../../src/registry/agents-body.ts';
import { fetchAgents } from '../../src/registry/client.ts';
import { AgentsProjector, newListingMemory } from '../../src/registry/projection.ts';
import type { AgentProjection } from '../../src/registry/types.ts';
import { REPO_ROOT } from '../support/mesh-dns.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '10000' },
    polls: { type: 'string', default: '10' },
    allocations: { type: 'boolean', default: false },
    http: { type: 'boolean', default: false },
    promoted: { type: 'boolean', default: false },
    /** A GET /agents body saved from a registry (curl <registry>/agents), instead of the synthetic one. */
    body: { type: 'string' },
  },
});
const count = Number(values.agents);
const template = (JSON.parse(readFileSync(join(REPO_ROOT, 'test/unit/registry/corpus/real-agents.json'), 'utf8')) as { agents: Record<string, unknown>[] }).agents[0]!;
const agents = Array.from({ length: count }, (_, index) => ({
  ...template,
  id: `agent-${String(index).padStart(5, '0')}-0000`,
  name: `agent-${index}`,
  endpoint: `http://10.${(index >> 16) & 0xff}.${(index >> 8) & 0xff}.${index & 0xff}:8000`,
  status: 'healthy',
}));
const body = values.body ? readFileSync(values.body) : Buffer.from(JSON.stringify({ agents, count, timestamp: new Date().toISOString() }));

const oldSpaceUsed = () => getHeapSpaceStatistics().filter((space) => space.space_name === 'old_space').reduce((sum, space) => sum + space.space_used_size, 0);

/** A loopback server in its own process (its objects are not this heap's), the body in 4 KiB chunked writes. */
async function startBodyServer(): Promise<{ url: string; stop(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'poll-promotion-'));
  writeFileSync(join(dir, 'agents.json'), body);
  const script = `
    const body = require('node:fs').readFileSync(${JSON.stringify(join(dir, 'agents.json'))});
    const server = require('node:http').createServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      let offset = 0;
      const send = () => {
        while (offset < body.length) {
          const more = response.write(body.subarray(offset, offset + 4096));
          offset += 4096;
          if (!more) return response.once('drain', send);
        }
        response.end();
      };
      send();
    }).listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [port] = (await once(child.stdout!, 'data')) as [Buffer];
  return { url: `http://127.0.0.1:${port.toString().trim()}`, stop: () => { child.kill(); rmSync(dir, { recursive: true, force: true }); } };
}

const SAMPLED_FROM_POLL = 3;
const sampler = values.allocations || values.promoted ? new Session() : null;
sampler?.connect();
const server = values.http ? await startBodyServer() : null;
const stopSignal = new AbortController().signal;
let oldSpaceAtSampledPoll = 0;
let arrayBuffersAtSampledPoll = 0;

let served: readonly AgentProjection[] = [];
// As the sync keeps it: the agent at each position of the last body (AgentsBodyReader's `expect`).
const memory = newListingMemory();
const { bodyOrder } = memory;
for (let poll = 0; poll < Number(values.polls); poll++) {
  if (sampler && poll === SAMPLED_FROM_POLL) {
    await sampler.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !values.promoted });
  }
  if (poll === SAMPLED_FROM_POLL) {
    oldSpaceAtSampledPoll = oldSpaceUsed();
    arrayBuffersAtSampledPoll = process.memoryUsage().arrayBuffers;
  }
  const before = oldSpaceUsed();
  const startedAt = performance.now();
  console.log(`poll-start ${poll}`);
  const projector = new AgentsProjector(undefined, served, memory);
  if (server) {
    await fetchAgents(server.url, 10_000, stopSignal, { onAgent: (agent) => projector.add(agent), expect: projector.expectedAt });
  } else {
    const reader = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, (agent) => projector.add(agent), projector.expectedAt);
    for (let offset = 0; offset < body.length; offset += 65536) {
      reader.write(body.subarray(offset, offset + 65536));
      await yieldToEventLoop();
    }
    reader.end();
  }
  served = projector.finish().agents;
  console.log(`poll-end ${poll} old space ${((oldSpaceUsed() - before) / 1048576).toFixed(2)} MiB grown, ${(performance.now() - startedAt).toFixed(0)} ms (${(body.length / 1048576).toFixed(1)} MiB body, ${served.length} agents)`);
}

server?.stop();
const polls = Number(values.polls) - SAMPLED_FROM_POLL;
if (polls > 0) {
  console.log(`old space grown per poll (polls ${SAMPLED_FROM_POLL}-${Number(values.polls) - 1}): ${((oldSpaceUsed() - oldSpaceAtSampledPoll) / polls / 1024).toFixed(1)} KiB (negative: a full GC came)`);
  // Socket chunks' ArrayBuffers are freed when a scavenge sweeps them (or, once promoted, at the
  // next full GC): fewer scavenges per poll leave more of them waiting (README, Memory).
  console.log(`ArrayBuffer memory grown per poll: ${((process.memoryUsage().arrayBuffers - arrayBuffersAtSampledPoll) / polls / 1024).toFixed(1)} KiB`);
}
if (sampler && polls > 0) {
  // Young objects no scavenge has reached yet would count as promoted: let two scavenges run
  // (with --expose-gc), which collect the dead ones and promote only what is still held.
  const gc = (globalThis as { gc?: (options: object) => void }).gc;
  if (values.promoted && gc) for (let scavenge = 0; scavenge < 2; scavenge++) gc({ type: 'minor' });
  const { profile } = await sampler.post('HeapProfiler.stopSampling');
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: typeof profile.head): void => {
    const frame = node.callFrame;
    const site = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
    bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  // Promoted objects are KiB per poll, allocations MiB.
  const perPoll = (bytes: number) => (values.promoted ? `${(bytes / polls / 1024).toFixed(1).padStart(6)} KiB` : `${(bytes / polls / 1048576).toFixed(2).padStart(7)} MiB`);
  console.log(`${values.promoted ? 'promoted' : 'allocated'} per poll (polls ${SAMPLED_FROM_POLL}-${Number(values.polls) - 1}, sampled): ${perPoll(total)}`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 12)) if (bytes > 0) console.log(`  ${perPoll(bytes)}  ${site}`);
}
