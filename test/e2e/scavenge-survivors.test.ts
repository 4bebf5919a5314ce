// What outlives a query (issue 9 item 3). With the shipped 1 MiB young generation a server at 20k
// qps scavenges every ~60 ms, and each scavenge pauses it. A scavenge whose young objects are
// all dead is short; every object still alive is copied, and the second time promoted. The
// server keeps nothing of a query it has answered, so what survives a scavenge should be the few
// objects of the query in flight. It was ~9.7 KiB per scavenge, from long-lived structures
// holding young objects: prom-client's GC observer (Node builds an entry per collection, alive at
// the next one), the recent-name table replacing colliding names on every query, a timer per
// 10 ms for the rate limiter's clock, the reused request holding the last datagram; and
// scavenges took 0.45 instead of ~0.33 ms (README, Performance).
//
// The server runs as shipped (the launcher's flags, its environment) with --trace-gc-nvp, answers
// a steady stream of queries for 1,000 names, and the bytes that survive each scavenge during it
// are read from the trace: bytes, not time, so the bound holds on a busy machine as on a quiet one.

import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shippedEnvironment, shippedNodeFlags } from '../bench/servers.ts';
import { buildQuery } from '../support/dns-messages.ts';
import { REPO_ROOT, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { stopAllProcesses } from '../support/processes.ts';

const NAMES = 1000;
const QUERIES = 60_000;
/** Queries kept outstanding by the client: a steady stream, as many clients would send. */
const OUTSTANDING = 32;
/** Bytes that may survive a scavenge (median): measured ~0.5 KiB; it was ~9.7 KiB. */
const SURVIVED_BYTES_LIMIT = 2048;

let server: MeshDnsProcess;

beforeAll(async () => {
  const records = Array.from({ length: NAMES }, (_, index) => `    - { name: agent-${String(index).padStart(4, '0')}, type: A, value: 10.${index >> 8}.${index & 0xff}.1 }`);
  server = await startMeshDnsProcess({
    configYaml: `zone:\n  name: mesh.local\n  records:\n${records.join('\n')}\nlog:\n  level: warn\n`,
    nodeFlags: [...shippedNodeFlags(REPO_ROOT), '--trace-gc-nvp'],
    env: { ...shippedEnvironment(REPO_ROOT), MESH_DNS_LOG_LEVEL: 'warn' },
  });
}, 30_000);

afterAll(async () => {
  await stopAllProcesses();
});

/** Sends `total` queries for the names in turn, `OUTSTANDING` at a time; resolves with how many were answered NOERROR with one answer. */
function sendStream(port: number, total: number): Promise<number> {
  const socket = createSocket('udp4');
  const queries = Array.from({ length: NAMES }, (_, index) => buildQuery({ id: index, name: `agent-${String(index).padStart(4, '0')}.mesh.local`, type: 'A' }));
  let sent = 0;
  let answered = 0;
  return new Promise((resolve, reject) => {
    const sendNext = () => {
      if (sent >= total) return;
      const query = queries[sent % NAMES]!;
      sent++;
      socket.send(query, port, '127.0.0.1');
    };
    // A lost datagram must not stall the stream: top it up every 50 ms.
    const topUp = setInterval(() => {
      for (let index = sent - answered; index < OUTSTANDING; index++) sendNext();
    }, 50);
    const done = () => {
      clearInterval(topUp);
      socket.close();
      resolve(answered);
    };
    const deadline = setTimeout(done, 60_000);
    socket.on('error', reject);
    socket.on('message', (message) => {
      // NOERROR, one answer.
      if ((message[3]! & 0x0f) === 0 && message.readUInt16BE(6) === 1) answered++;
      if (sent >= total && sent - answered <= 0) {
        clearTimeout(deadline);
        done();
      } else sendNext();
    });
    for (let index = 0; index < OUTSTANDING; index++) sendNext();
  });
}

/** new_space_survived of each scavenge in --trace-gc-nvp output. */
function survivedPerScavenge(output: string): number[] {
  return output.split('\n').filter((line) => / gc=s /.test(line)).map((line) => Number(/ new_space_survived=(\d+)/.exec(line)?.[1] ?? Number.NaN));
}

describe('what survives a scavenge while mesh-dns answers a steady stream of queries', () => {
  it(`is the query in flight, not structures holding young objects: median ≤ ${SURVIVED_BYTES_LIMIT} bytes`, async () => {
    // Warm up (compilation, the recent-name table, the zone's memo), then measure.
    expect(await sendStream(server.dnsPort, 10_000)).toBeGreaterThan(9_000);
    const before = survivedPerScavenge(server.process.output()).length;
    const answered = await sendStream(server.dnsPort, QUERIES);
    expect(answered).toBeGreaterThan(QUERIES * 0.95);
    const survived = survivedPerScavenge(server.process.output()).slice(before);
    // ~1 KiB of young objects per query (dgram's Buffer and address): a scavenge every ~1,000.
    expect(survived.length).toBeGreaterThanOrEqual(20);
    const median = [...survived].sort((a, b) => a - b)[survived.length >> 1]!;
    console.log(`[scavenge survivors] ${survived.length} scavenges over ${answered} queries; bytes surviving each: median ${median}, max ${Math.max(...survived)}`);
    expect(median).toBeLessThanOrEqual(SURVIVED_BYTES_LIMIT);
  }, 120_000);
});
