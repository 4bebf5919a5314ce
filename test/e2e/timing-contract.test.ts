// The timing contract with the client (issue 8 item 3): with the MCP Mesh guide's
// `options ndots:0 timeout:1 attempts:2`, glibc sends, waits 1 s, retransmits, waits 1 s and gives
// up at ~2 s. mesh-dns must end every lookup with a definite answer before that: positive, stale
// with EDE 3, or SERVFAIL with an EDE; and a retransmission must join the upstream query in flight.
//
// Two parts:
// - glibc itself (getent) in a network namespace of its own, knot as the upstream: fast answer,
//   upstream silent (knot SIGSTOPped: datagrams queue, nothing answers) with and without a stale
//   entry, upstream stopped (killed: ICMP port unreachable). mesh-dns's own metrics are read the
//   moment getent returns, so "SERVFAIL sent before the client gave up" is counted, not assumed.
// - on loopback, a scripted upstream for what knot cannot do: answer slowly, by a chosen delay.
//   Raw UDP queries time each outcome and retransmit (same ID, then a new ID) while the first is
//   in flight; the upstream counts what reached it.
//
// Each case prints a line of the client-visible outcome table (the README's "Timing contract").

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import dgram from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdeCode, Rcode } from '../../src/wire/constants.ts';
import { buildQuery, decode } from '../support/dns-messages.ts';
import { EXAMPLE_TEST_ZONE, knotConfig } from '../support/knot.ts';
import { MAIN, NODE_BINARY, startMeshDnsProcess, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { namespaceUnavailable, runInNetworkNamespace, sections } from '../support/namespace.ts';
import { stopAllProcesses } from '../support/processes.ts';
import { answerA, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.ts';
import { reportSkip } from '../support/tools.ts';

/** glibc `timeout:1 attempts:2`: the client's whole wait. */
const CLIENT_BUDGET_MS = 2_000;

const unavailable = namespaceUnavailable(['getent', 'knotd', 'knotc', 'dig', 'curl']);
if (unavailable) reportSkip('timing-contract glibc tests', unavailable);

function glibcScript(dir: string): string {
  const mesh = `env -i PATH="$PATH" MCP_MESH_REGISTRY_URL= MESH_DNS_SNAPSHOT_PATH= MESH_DNS_LISTEN=127.0.0.1:53 MESH_DNS_HTTP_LISTEN=127.0.0.1:9153 MESH_DNS_UPSTREAMS=127.0.0.11 ${NODE_BINARY} ${MAIN} --config ${dir}/mesh-dns.yaml`;
  return `
    set -u
    ip link set lo up
    # getaddrinfo's AI_ADDRCONFIG wants a non-loopback address of each family, as a container has.
    ip link add veth0 type veth peer name veth1
    ip link set veth0 up && ip link set veth1 up
    ip addr add 192.0.2.1/24 dev veth0 && ip addr add fd00:53::1/64 dev veth0
    mount --bind ${dir}/resolv.conf /etc/resolv.conf
    mount --bind ${dir}/hosts /etc/hosts
    knotd -c ${dir}/knot.conf > ${dir}/knotd.log 2>&1 &
    knot=$!
    for i in $(seq 1 100); do knotc -s ${dir}/knot.sock zone-status example.test 2>/dev/null | grep -q 'serial: [0-9]' && break; sleep 0.1; done
    ${mesh} > ${dir}/mesh-dns.log 2>&1 &
    pid=$!
    for i in $(seq 1 100); do curl -s -o /dev/null --max-time 1 http://127.0.0.1:9153/health && break; sleep 0.1; done
    ms() { echo $(( $(date +%s%N) / 1000000 )); }
    metrics() { curl -s http://127.0.0.1:9153/metrics | grep -E '^meshdns_dns_(requests|responses)_total' ; }
    lookup() { # label name: getent ahosts, its exit status, its time, mesh-dns's counters right after
      t0=$(ms); getent ahosts "$2" > ${dir}/getent.out; status=$?; t1=$(ms)
      echo "== $1 getent"; echo "status $status"; echo "ms $((t1 - t0))"; cat ${dir}/getent.out
      echo "== $1 metrics"; metrics
    }
    asks() { # label name: dig, one try, waiting longer than the client would
      echo "== $1 dig"; dig +time=4 +tries=1 @127.0.0.1 "$2" A | grep -E 'status:|EDE|Query time|^[a-z0-9.]+\\s+[0-9]+\\s+IN\\s+A\\s'
    }

    lookup fast www.example.test
    # short.example.test has TTL 2: cache it, let it expire, then silence the upstream.
    getent ahosts short.example.test > /dev/null
    sleep 2.5
    kill -STOP $knot
    lookup stale short.example.test
    asks stale short.example.test
    lookup silent nope.example.test
    asks silent nope2.example.test
    # The upstream stopped for good: its port is closed.
    kill -CONT $knot; kill -KILL $knot; wait $knot 2>/dev/null
    lookup stopped gone.example.test
    asks stopped gone2.example.test
    lookup stopped-stale short.example.test
    kill -TERM $pid; wait $pid
  `;
}

interface Lookup {
  status: number;
  ms: number;
  lines: string[];
}

function lookupOf(out: Map<string, string>, label: string): Lookup {
  const text = out.get(`${label} getent`) ?? '';
  const [statusLine = '', msLine = '', ...lines] = text.split('\n');
  return { status: Number(statusLine.replace('status ', '')), ms: Number(msLine.replace('ms ', '')), lines };
}

/** Sum of `meshdns_dns_responses_total` for one answer kind (all rcodes). */
function responses(metrics: string, kind: string): number {
  return metrics.split('\n').filter((line) => line.includes(`kind="${kind}"`)).reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

describe.skipIf(unavailable !== null)('timing contract with glibc (getent, timeout:1 attempts:2) in a network namespace', () => {
  let dir = '';
  let out: Map<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mesh-dns-timing-'));
    await writeFile(join(dir, 'knot.conf'), knotConfig(dir, 53, [EXAMPLE_TEST_ZONE], '127.0.0.11'));
    await writeFile(join(dir, `${EXAMPLE_TEST_ZONE.origin}.zone`), `$ORIGIN ${EXAMPLE_TEST_ZONE.origin}.\n${EXAMPLE_TEST_ZONE.text}`);
    // The MCP Mesh guide's client options, nothing else.
    await writeFile(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions ndots:0 timeout:1 attempts:2\n');
    await writeFile(join(dir, 'hosts'), '127.0.0.1 localhost\n');
    // Defaults only: the contract must hold out of the box.
    await writeFile(join(dir, 'mesh-dns.yaml'), '');
    const stdout = await runInNetworkNamespace(glibcScript(dir), 120_000);
    if (process.env.SHOW_NETNS_OUTPUT) console.log(stdout);
    out = sections(stdout);
    const table = ['fast', 'stale', 'silent', 'stopped', 'stopped-stale'].map((label) => {
      const lookup = lookupOf(out, label);
      return `${label.padEnd(14)} getent status ${lookup.status} in ${lookup.ms} ms; dig: ${(out.get(`${label} dig`) ?? '').replace(/\n/g, ' | ')}`;
    });
    console.log(`[timing contract, glibc timeout:1 attempts:2]\n${table.join('\n')}`);
  }, 150_000);
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('upstream answers: getent resolves at once', () => {
    const fast = lookupOf(out, 'fast');
    expect(fast.status).toBe(0);
    expect(fast.lines.join('\n')).toMatch(/^192\.0\.2\.1\s+STREAM\s+www\.example\.test$/m);
    expect(fast.ms).toBeLessThan(500);
  });

  it('upstream silent, stale entry: getent resolves within the first attempt; dig sees TTL 30 and EDE 3', () => {
    const stale = lookupOf(out, 'stale');
    expect(stale.status).toBe(0);
    expect(stale.lines.join('\n')).toMatch(/^192\.0\.2\.9\s+STREAM\s+short\.example\.test$/m);
    // The RFC 8767 client response timer (800 ms) fires before the client's first timeout (1 s).
    expect(stale.ms).toBeLessThan(1_000);
    expect(responses(out.get('stale metrics') ?? '', 'stale')).toBeGreaterThanOrEqual(1);
    const dig = out.get('stale dig') ?? '';
    expect(dig).toMatch(/status: NOERROR/);
    expect(dig).toMatch(/EDE: 3 \(Stale Answer\)/);
    expect(dig).toMatch(/^short\.example\.test\.\s+30\s+IN\s+A\s+192\.0\.2\.9$/m);
  });

  it('upstream silent, no stale entry: SERVFAIL with EDE reaches glibc before its second timeout, a definite failure', () => {
    const silent = lookupOf(out, 'silent');
    expect(silent.status).toBe(2); // EAI_AGAIN/not found: getent's "no answer", not a hang
    // Read the moment getent returned: mesh-dns had already answered SERVFAIL (A and AAAA, and
    // the joined retransmissions) — the client ended on our answer, not on its own timeout.
    expect(responses(out.get('silent metrics') ?? '', 'upstream_failed')).toBeGreaterThanOrEqual(2);
    expect(silent.ms).toBeLessThan(CLIENT_BUDGET_MS - 100);
    const dig = out.get('silent dig') ?? '';
    expect(dig).toMatch(/status: SERVFAIL/);
    expect(dig).toMatch(/EDE: 22 \(No Reachable Authority\)/);
    const queryMs = Number(/Query time: (\d+) msec/.exec(dig)?.[1]);
    // A timeout, not an instant refusal: one try of 800 ms (the upstream is already marked down
    // by the failed stale refreshes, so it gets a single try) or two within the 1.6 s deadline.
    expect(queryMs).toBeGreaterThan(700);
    expect(queryMs).toBeLessThan(CLIENT_BUDGET_MS - 100);
  });

  it('upstream stopped: a definite failure at once, and the stale name still resolves', () => {
    const stopped = lookupOf(out, 'stopped');
    expect(stopped.status).toBe(2);
    expect(stopped.ms).toBeLessThan(CLIENT_BUDGET_MS - 100);
    expect(out.get('stopped dig')).toMatch(/status: SERVFAIL/);
    expect(out.get('stopped dig')).toMatch(/EDE: (22|23) /);
    const stale = lookupOf(out, 'stopped-stale');
    expect(stale.status).toBe(0);
    expect(stale.lines.join('\n')).toMatch(/^192\.0\.2\.9\s+STREAM\s+short\.example\.test$/m);
    expect(stale.ms).toBeLessThan(1_000);
  });
});

/** Sends `query` from `socket` and resolves with the first answer and the time it took. */
function exchange(socket: dgram.Socket, port: number, query: Buffer, timeoutMs = 3_000): Promise<{ response: Buffer; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once('message', (response) => {
      clearTimeout(timer);
      resolve({ response, ms: performance.now() - started });
    });
    socket.send(query, port, '127.0.0.1');
  });
}

async function udpSocket(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

describe('timing contract on loopback: a slow upstream (scripted) and retransmissions', () => {
  let upstream: ScriptedUpstream;
  let mesh: MeshDnsProcess;
  /** Per name: how long the upstream waits before answering (ms); -1 never answers. */
  const delays = new Map<string, number>([
    ['fast.example.test', 0],
    ['slow300.example.test', 300],
    ['join.example.test', 700],
    ['slow1200.example.test', 1_200],
    ['slow2000.example.test', 2_000],
    ['stale.example.test', 0],
  ]);
  const rows: string[] = [];

  beforeAll(async () => {
    upstream = await startScriptedUpstream((query, reply) => {
      const delay = delays.get(query.qname) ?? 0; // health probes (`.`) answered at once
      setTimeout(() => reply.send(answerA(query, '192.0.2.77', { ttl: query.qname === 'stale.example.test' ? 1 : 60 })), delay);
    });
    mesh = await startMeshDnsProcess({ env: { MESH_DNS_UPSTREAMS: `127.0.0.1:${upstream.port}`, MESH_DNS_LOOP_DETECT: 'false' } });
  });
  afterAll(async () => {
    console.log(`[timing contract, scripted upstream, default settings]\n${rows.join('\n')}`);
    await stopAllProcesses();
    await upstream?.stop();
  });

  async function ask(name: string, id = 0x4242): Promise<{ rcode: number; ede: number | null; ttl: number | null; ms: number }> {
    const socket = await udpSocket();
    try {
      const { response, ms } = await exchange(socket, mesh.dnsPort, buildQuery({ id, name, edns: {} }));
      const decoded = decode(response);
      const row = { rcode: decoded.rcode, ede: decoded.opt?.ede?.code ?? null, ttl: decoded.answers[0]?.ttl ?? null, ms };
      rows.push(`${name.padEnd(24)} rcode ${row.rcode} EDE ${row.ede ?? '-'} TTL ${row.ttl ?? '-'} in ${Math.round(ms)} ms (upstream queries so far for it: ${upstream.queryCount(name)})`);
      return row;
    } finally {
      socket.close();
    }
  }

  it('a fast upstream and one answering in 300 ms: answered within the client\'s first attempt', async () => {
    const fast = await ask('fast.example.test');
    expect(fast).toMatchObject({ rcode: Rcode.NOERROR, ede: null });
    expect(fast.ms).toBeLessThan(200);
    const slow = await ask('slow300.example.test');
    expect(slow).toMatchObject({ rcode: Rcode.NOERROR, ede: null });
    expect(slow.ms).toBeGreaterThanOrEqual(290);
    expect(slow.ms).toBeLessThan(1_000);
  });

  it('a retransmission (same ID on the same socket, then a new ID from another port) joins the query in flight: one upstream query, three answers', async () => {
    const name = 'join.example.test';
    const first = await udpSocket();
    const second = await udpSocket();
    try {
      const query = buildQuery({ id: 0x1111, name, edns: {} });
      const answers: Buffer[] = [];
      first.on('message', (message) => answers.push(message));
      second.on('message', (message) => answers.push(message));
      const started = performance.now();
      first.send(query, mesh.dnsPort, '127.0.0.1');
      await new Promise((resolve) => setTimeout(resolve, 300));
      first.send(query, mesh.dnsPort, '127.0.0.1'); // glibc's retransmission: same ID, same socket
      await new Promise((resolve) => setTimeout(resolve, 100));
      second.send(buildQuery({ id: 0x2222, name, edns: {} }), mesh.dnsPort, '127.0.0.1'); // a new ID, another port
      const deadline = Date.now() + 3_000;
      while (answers.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      const ms = performance.now() - started;
      expect(answers.map((answer) => decode(answer).id).sort()).toEqual([0x1111, 0x1111, 0x2222]);
      for (const answer of answers) expect(decode(answer).answers.map((record) => record.address)).toEqual(['192.0.2.77']);
      expect(upstream.queryCount(name)).toBe(1);
      rows.push(`${name.padEnd(24)} 3 client queries (1 + 2 retransmissions) answered in ${Math.round(ms)} ms; upstream queries: ${upstream.queryCount(name)}`);
      const metrics = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
      expect(Number(/^meshdns_forward_coalesced_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
    } finally {
      first.close();
      second.close();
    }
  });

  it('an upstream slower than the try timeout but within the deadline is still answered; one slower than the deadline gets SERVFAIL with EDE 22 before the client\'s budget; with a stale entry, the stale answer comes within its first attempt', async () => {
    // 1.2 s: the first try is overdue at 800 ms and the second one is sent, but the first keeps
    // listening and its answer arrives at 1.2 s, inside the client's second attempt.
    const slow = await ask('slow1200.example.test');
    expect(slow).toMatchObject({ rcode: Rcode.NOERROR, ede: null });
    expect(slow.ms).toBeGreaterThan(1_150);
    expect(slow.ms).toBeLessThan(1_500);
    const slower = await ask('slow2000.example.test');
    expect(slower).toMatchObject({ rcode: Rcode.SERVFAIL, ede: EdeCode.NO_REACHABLE_AUTHORITY });
    expect(slower.ms).toBeGreaterThan(1_000);
    expect(slower.ms).toBeLessThan(CLIENT_BUDGET_MS - 100);

    // Cache it (TTL 1), let it expire, make the upstream slow: the stale answer comes at 800 ms.
    expect(await ask('stale.example.test')).toMatchObject({ rcode: Rcode.NOERROR, ttl: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    delays.set('stale.example.test', 1_200);
    const stale = await ask('stale.example.test');
    expect(stale).toMatchObject({ rcode: Rcode.NOERROR, ede: EdeCode.STALE_ANSWER, ttl: 30 });
    expect(stale.ms).toBeGreaterThan(700);
    expect(stale.ms).toBeLessThan(1_000);
  });
});
