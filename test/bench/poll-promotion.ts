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
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Session } from 'node:inspector/promises';
import { AgentsBodyReader, DEFAULT_AGENTS_BODY_LIMITS } from '../../src/registry/agents-body.ts';
import { AgentsProjector } from '../../src/registry/projection.ts';
import type { AgentProjection } from '../../src/registry/types.ts';
import { REPO_ROOT } from '../support/mesh-dns.ts';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '10000' }, polls: { type: 'string', default: '10' }, allocations: { type: 'boolean', default: false } } });
const count = Number(values.agents);
const template = (JSON.parse(readFileSync(join(REPO_ROOT, 'test/unit/registry/corpus/real-agents.json'), 'utf8')) as { agents: Record<string, unknown>[] }).agents[0]!;
const agents = Array.from({ length: count }, (_, index) => ({
  ...template,
  id: `agent-${String(index).padStart(5, '0')}-0000`,
  name: `agent-${index}`,
  endpoint: `http://10.${(index >> 16) & 0xff}.${(index >> 8) & 0xff}.${index & 0xff}:8000`,
  status: 'healthy',
}));
const body = Buffer.from(JSON.stringify({ agents, count, timestamp: new Date().toISOString() }));

const oldSpaceUsed = () => getHeapSpaceStatistics().filter((space) => space.space_name === 'old_space').reduce((sum, space) => sum + space.space_used_size, 0);

const SAMPLED_FROM_POLL = 3;
const sampler = values.allocations ? new Session() : null;
sampler?.connect();

let served: readonly AgentProjection[] = [];
for (let poll = 0; poll < Number(values.polls); poll++) {
  if (sampler && poll === SAMPLED_FROM_POLL) {
    await sampler.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  const before = oldSpaceUsed();
  const startedAt = performance.now();
  console.log(`poll-start ${poll}`);
  const projector = new AgentsProjector(undefined, served);
  const reader = new AgentsBodyReader(DEFAULT_AGENTS_BODY_LIMITS, (agent) => projector.add(agent));
  for (let offset = 0; offset < body.length; offset += 65536) {
    reader.write(body.subarray(offset, offset + 65536));
    await yieldToEventLoop();
  }
  reader.end();
  served = projector.finish().agents;
  console.log(`poll-end ${poll} old space ${((oldSpaceUsed() - before) / 1048576).toFixed(2)} MiB grown, ${(performance.now() - startedAt).toFixed(0)} ms (${(body.length / 1048576).toFixed(1)} MiB body, ${served.length} agents)`);
}

if (sampler && Number(values.polls) > SAMPLED_FROM_POLL) {
  const { profile } = await sampler.post('HeapProfiler.stopSampling');
  const polls = Number(values.polls) - SAMPLED_FROM_POLL;
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
  const mib = (bytes: number) => (bytes / polls / 1048576).toFixed(2).padStart(7);
  console.log(`allocated per poll (polls ${SAMPLED_FROM_POLL}-${Number(values.polls) - 1}, sampled): ${mib(total)} MiB`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 12)) if (bytes > 0) console.log(`  ${mib(bytes)} MiB  ${site}`);
}
