// Rate limiting on the wire (issue 8 item 6), against the real mesh-dns process:
// - a UDP burst over the limit from 127.0.0.2 is cut (answered / dropped / TC=1 counted), while
//   127.0.0.3, sending at the same time, is fully served, and the allow-listed 127.0.0.4 is
//   never limited; the cut client retries over TCP (what TC=1 tells it) and is answered there;
// - memory stays bounded while 100,000 distinct source addresses send queries: in a network
//   namespace of its own, 198.18.0.0/15 (RFC 2544's benchmarking range) is made local with
//   `ip route add local … dev lo`, so a sender can bind any of its 131,072 addresses and every
//   reply stays inside the namespace. RSS and the bucket table are read before and after.

import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rcode } from '../../src/wire/constants.ts';
import { buildQuery, decode } from '../support/dns-messages.ts';
import { MAIN, NODE_BINARY, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { namespaceUnavailable, runInNetworkNamespace, sections } from '../support/namespace.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { connectTcp, destroyTcpClients, framed } from '../support/tcp-client.ts';
import { reportSkip } from '../support/tools.ts';

const QPS = 50;
const BURST = 100;

interface Tally {
  sent: number;
  answered: number;
  truncated: number;
  other: number;
}

/** Sends `count` queries back to back from `source`, then collects answers for 500 ms. */
async function burstFrom(source: string, port: number, count: number): Promise<Tally & { seconds: number }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, source, resolve));
  const tally: Tally = { sent: count, answered: 0, truncated: 0, other: 0 };
  socket.on('message', (message) => {
    const decoded = decode(message);
    if (decoded.tc) tally.truncated++;
    else if (decoded.rcode === Rcode.NOERROR && decoded.answers.length > 0) tally.answered++;
    else tally.other++;
  });
  const started = performance.now();
  for (let index = 0; index < count; index++) {
    socket.send(buildQuery({ id: index, name: 'hello.mesh.local', edns: {} }), port, '127.0.0.1');
    // Yield now and then so the sends leave the process as a burst, not one giant queue.
    if (index % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 500));
  socket.close();
  return { ...tally, seconds };
}

async function metric(mesh: MeshDnsProcess, name: string): Promise<number> {
  const text = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

describe('rate limiting against the mesh-dns process (loopback sources)', () => {
  let mesh: MeshDnsProcess;

  beforeAll(async () => {
    mesh = await startMeshDnsProcess({
      configYaml: 'zone:\n  records:\n    - { name: hello, type: A, value: 192.0.2.10 }\n',
      env: { MESH_DNS_RATE_LIMIT_QPS: String(QPS), MESH_DNS_RATE_LIMIT_BURST: String(BURST), MESH_DNS_RATE_LIMIT_ALLOW: '127.0.0.4/32' },
    });
  });
  afterAll(async () => {
    destroyTcpClients();
    await stopAllProcesses();
  });

  it('cuts a burst from 127.0.0.2 (answered ≤ burst + rate × time, the rest dropped or TC=1 by halves) while 127.0.0.3 and the allow-listed 127.0.0.4 are fully served', async () => {
    const [flooder, neighbour, allowed] = await Promise.all([
      burstFrom('127.0.0.2', mesh.dnsPort, 1_000),
      burstFrom('127.0.0.3', mesh.dnsPort, 80),
      burstFrom('127.0.0.4', mesh.dnsPort, 300),
    ]);
    console.log(`[rate limit ${QPS}/s burst ${BURST}, slip 2] 127.0.0.2 sent ${flooder.sent} in ${flooder.seconds.toFixed(3)} s: answered ${flooder.answered}, TC=1 ${flooder.truncated}, dropped ${flooder.sent - flooder.answered - flooder.truncated - flooder.other}; 127.0.0.3: ${neighbour.answered}/${neighbour.sent} answered; 127.0.0.4 (allow-listed): ${allowed.answered}/${allowed.sent}`);
    expect(flooder.other).toBe(0);
    expect(flooder.answered).toBeGreaterThanOrEqual(BURST);
    expect(flooder.answered).toBeLessThanOrEqual(BURST + Math.ceil(QPS * (flooder.seconds + 0.1)));
    // Served, not limited: no TC=1 at all, and every answer but what the kernel dropped during the
    // flood (seen in CI: 298 of 300). A limited client would get at most BURST + rate × time
    // answered and half of the rest TC=1; a bucket shared with 127.0.0.2 would already be empty.
    for (const served of [neighbour, allowed]) {
      expect(served).toMatchObject({ truncated: 0, other: 0 });
      expect(served.answered).toBeGreaterThanOrEqual(Math.floor(served.sent * 0.95));
    }

    // What mesh-dns saw: the kernel may drop part of a 1,000-datagram burst before mesh-dns reads
    // it (seen in CI: 170 fewer TC=1 than half the queries sent over the limit), and part of the
    // replies before the client reads them, so the slip ratio is checked on the server's counts.
    const slipped = await metric(mesh, 'meshdns_ratelimit_slipped_total');
    const dropped = await metric(mesh, 'meshdns_ratelimit_dropped_total');
    // slip 2: every second over-limit query is answered TC=1, the others get nothing.
    expect(slipped + dropped).toBeGreaterThan(0);
    expect(Math.abs(slipped - (slipped + dropped) / 2)).toBeLessThanOrEqual(1);
    expect(flooder.answered + slipped + dropped).toBeLessThanOrEqual(flooder.sent);
    expect(flooder.truncated).toBeGreaterThan(0);
    expect(flooder.truncated).toBeLessThanOrEqual(slipped);
    expect(await metric(mesh, 'meshdns_ratelimit_clients')).toBe(3);
  });

  it('the cut client, told TC=1, is answered over TCP', async () => {
    await burstFrom('127.0.0.2', mesh.dnsPort, 300);
    const client = await connectTcp(mesh.dnsPort, { localAddress: '127.0.0.2' });
    client.socket.write(framed(buildQuery({ id: 7, name: 'hello.mesh.local', edns: {} })));
    const [answer] = await client.waitForMessages(1);
    expect(decode(answer!)).toMatchObject({ id: 7, tc: false, rcode: Rcode.NOERROR });
    expect(decode(answer!).answers.map((record) => record.address)).toEqual(['192.0.2.10']);
  });
});

const unavailable = namespaceUnavailable(['python3', 'curl']);
if (unavailable) reportSkip('rate-limit spoofed-source memory test', unavailable);

const SOURCES = 100_000;
const TABLE_CAP = 16_384;

/** Sends one query from each of `count` addresses of 198.18.0.0/15, starting at `first`. */
const SENDER = `
import socket, struct, sys, time
first, count, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
query = bytes.fromhex('12340100000100000000000005' + b'hello'.hex() + '046d657368056c6f63616c0000010001')
for i in range(first, first + count):
    address = '198.%d.%d.%d' % (18 + (i >> 16), (i >> 8) & 255, i & 255)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 0))
    s.sendto(query, ('198.18.0.1', port))
    s.close()
    if i % 200 == 0:
        time.sleep(0.015)  # keep under what mesh-dns drains, so the queries are processed, not lost in the socket buffer
`;

describe.skipIf(unavailable !== null)('rate-limit memory under 100k distinct source addresses (network namespace)', () => {
  let dir = '';
  let out: Map<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mesh-dns-ratelimit-'));
    await writeFile(join(dir, 'send.py'), SENDER);
    await writeFile(join(dir, 'mesh-dns.yaml'), 'zone:\n  records:\n    - { name: hello, type: A, value: 192.0.2.10 }\n');
    const mesh = `env -i PATH="$PATH" MCP_MESH_REGISTRY_URL= MESH_DNS_SNAPSHOT_PATH= MESH_DNS_RESOLV_CONF= MESH_DNS_LISTEN=198.18.0.1:53 MESH_DNS_HTTP_LISTEN=127.0.0.1:9153 MESH_DNS_MESH_NETWORKS=198.18.0.0/15 MESH_DNS_RATE_LIMIT_MAX_CLIENTS=${TABLE_CAP} ${NODE_BINARY} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}/snapshots ${MAIN} --config ${dir}/mesh-dns.yaml`;
    const script = `
      set -u
      ip link set lo up
      # The whole /15 is local in this namespace only: any of its addresses can be bound, and
      # replies to them are delivered back to lo (no socket: dropped here, never routed out).
      ip route add local 198.18.0.0/15 dev lo
      ${mesh} > ${dir}/mesh-dns.log 2>&1 &
      pid=$!
      for i in $(seq 1 100); do curl -s -o /dev/null --max-time 1 http://127.0.0.1:9153/health && break; sleep 0.1; done
      mkdir -p ${dir}/snapshots
      state() {
        echo "== $1"
        grep VmRSS /proc/$pid/status
        # A heap snapshot runs a full GC first: heap used is then what is really retained.
        kill -USR2 $pid
        for i in $(seq 1 200); do ls ${dir}/snapshots/*.heapsnapshot >/dev/null 2>&1 && ! fuser ${dir}/snapshots/*.heapsnapshot >/dev/null 2>&1 && break; sleep 0.1; done
        sleep 0.5; rm -f ${dir}/snapshots/*.heapsnapshot
        curl -s http://127.0.0.1:9153/metrics | grep -E '^meshdns_(ratelimit_clients|ratelimit_evictions_total|dns_requests_total|nodejs_heap_size_used_bytes)'
      }
      state start
      python3 ${dir}/send.py 0 20000 53
      sleep 1
      state filled
      python3 ${dir}/send.py 20000 40000 53
      sleep 1
      state warm
      python3 ${dir}/send.py 60000 40000 53
      sleep 1
      state after
      kill -TERM $pid; wait $pid
    `;
    const stdout = await runInNetworkNamespace(script, 240_000);
    if (process.env.SHOW_NETNS_OUTPUT) console.log(stdout);
    out = sections(stdout);
  }, 260_000);
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  function read(label: string) {
    const text = out.get(label) ?? '';
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
    const requests = [...text.matchAll(/^meshdns_dns_requests_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    const heap = value(/^meshdns_nodejs_heap_size_used_bytes (\S+)/m);
    return { rssKb: value(/VmRSS:\s+(\d+) kB/), heapMb: heap / 1024 / 1024, clients: value(/^meshdns_ratelimit_clients (\d+)/m), evictions: value(/^meshdns_ratelimit_evictions_total (\d+)/m), requests };
  }

  it(`holds at most ${TABLE_CAP} buckets; retained heap flat from 20k to ${SOURCES} sources, RSS nearly so`, () => {
    const phases = (['start', 'filled', 'warm', 'after'] as const).map((label) => ({ label, ...read(label) }));
    console.log(`[rate-limit memory, table cap ${TABLE_CAP}]\n${phases.map((phase) => `${phase.label.padEnd(7)} ${String(phase.requests).padStart(6)} sources: RSS ${(phase.rssKb / 1024).toFixed(1)} MiB, heap used ${phase.heapMb.toFixed(1)} MiB, ${phase.clients} buckets, ${phase.evictions} evicted`).join('\n')}`);
    const [, filled, warm, after] = phases as [unknown, ReturnType<typeof read>, ReturnType<typeof read>, ReturnType<typeof read>];
    // Nearly every query reached mesh-dns (a few may be lost in socket buffers while it is busy),
    // and each came from a new address: every one past the cap evicted a bucket.
    expect(after.requests).toBeGreaterThanOrEqual(SOURCES * 0.95);
    expect(filled.clients).toBe(TABLE_CAP);
    expect(warm.clients).toBe(TABLE_CAP);
    expect(after.clients).toBe(TABLE_CAP);
    expect(after.evictions).toBe(after.requests - TABLE_CAP);
    // What is retained, after the full GC that the heap snapshot runs: flat from the moment the
    // table is full (an unbounded table would keep ~150 B per source: +12 MB for 80,000).
    expect(after.heapMb - filled.heapMb).toBeLessThan(2);
    // RSS (read before each snapshot; it also carries V8's grown young generation and the
    // previous snapshot's buffers, which alone moved it by 10–17 MiB between runs): the last
    // 40,000 sources add little. The heap check above is the one that tells a bounded table from
    // an unbounded one (~150 B a source); this one catches a per-source cost of ~800 B or more.
    expect(after.rssKb - warm.rssKb).toBeLessThan(32 * 1024);
  });
});
