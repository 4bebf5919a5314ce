// Forwarding end to end: the real mesh-dns CLI (startMeshDnsProcess) in front of a real
// authoritative upstream (knotd, test/support/knot.ts) or a scripted UDP upstream
// (test/support/scripted-upstream.ts), everything on loopback, checked with the real dig.
//
// Covers issue 3's "Tests that must exist": answers identical to asking the upstream directly
// (AA and RA as a forwarder sets them), TC over UDP and the full answer over TCP, TTLs counting
// down, negative caching from the SOA, serve-stale with EDE 3 and SERVFAIL within the deadline
// while the upstream is stopped, recovery, a dead upstream skipped after its first failures,
// forged responses ignored, 50 identical queries → one upstream query, REFUSED for clients
// outside the allowed networks, names that must never leave the machine, force-TCP, runtime
// loop detection and the self-upstream refused at start.
//
// Timeouts are short (try 500 ms–1 s, deadline 1.5 s) so failure paths finish quickly; the
// timings that matter are printed.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, decode } from '../support/dns-messages.ts';
import { dig, type DigRecord, type DigResult } from '../support/dig.ts';
import { BIG_TXT_STRINGS, EXAMPLE_SOA_MINIMUM, startKnot, type KnotServer } from '../support/knot.ts';
import { eventually, MAIN, NODE_BINARY, startMeshDnsProcess, TEST_RESOLV_CONF, type MeshDnsProcess } from '../support/mesh-dns.ts';
import { freePort, stopAllProcesses } from '../support/processes.ts';
import { answerA, questionFor, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.ts';
import { skipWithout } from '../support/tools.ts';
import { queryUdp } from '../support/udp-query.ts';

const execFileAsync = promisify(execFile);

const DIG_MISSING = skipWithout('dig', 'forwarding tests');
const KNOT_MISSING = DIG_MISSING || skipWithout('knotd', 'forwarding tests against knot') || skipWithout('knotc', 'forwarding tests against knot');

const LOOPBACK = '127.0.0.1';
const TRY_TIMEOUT_MS = 500;
const DEADLINE_MS = 1500;
/** Slack on top of the deadline for process scheduling and dig itself. */
const DEADLINE_SLACK_MS = 500;

/** Short timeouts, so every failure path ends well within a test's time. */
function forwardingEnv(upstreams: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    MESH_DNS_UPSTREAMS: upstreams,
    MESH_DNS_UPSTREAM_TIMEOUT: `${TRY_TIMEOUT_MS}ms`,
    MESH_DNS_UPSTREAM_DEADLINE: `${DEADLINE_MS}ms`,
    ...extra,
  };
}

async function timedDig(port: number, name: string, type = 'A', options: string[] = []): Promise<{ result: DigResult; ms: number }> {
  const started = performance.now();
  const result = await dig(LOOPBACK, port, name, type, options);
  return { result, ms: Math.round(performance.now() - started) };
}

async function metricsText(mesh: MeshDnsProcess): Promise<string> {
  const response = await fetch(`${mesh.httpUrl}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

function metricValue(text: string, series: string): number | null {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

/** The EDE code of the response, or null. */
function edeCode(result: DigResult): number | null {
  return result.ede?.code ?? null;
}

/** A record without its TTL; owner names compared case-insensitively (knot echoes the query's case). */
function recordKey(record: DigRecord): string {
  return `${record.name.toLowerCase()} ${record.class} ${record.type} ${record.data}`;
}

const SECTIONS = ['answer', 'authority', 'additional'] as const;

/**
 * mesh-dns's answer is knot's, as a forwarder relays it: same rcode, same records in every section
 * (as sets) with TTLs no higher than knot's, same flags except AA (knot is authoritative, a
 * forwarder is not) and RA (a forwarder offers recursion).
 */
function expectRelayed(mesh: DigResult, direct: DigResult): void {
  expect(mesh.status).toBe(direct.status);
  expect(direct.flags).toContain('aa');
  expect(mesh.flags).not.toContain('aa');
  expect(mesh.flags).toContain('ra');
  expect(mesh.flags.filter((flag) => flag !== 'ra').sort()).toEqual(direct.flags.filter((flag) => flag !== 'aa' && flag !== 'ra').sort());
  for (const section of SECTIONS) {
    expect(mesh[section].map(recordKey).sort(), section).toEqual(direct[section].map(recordKey).sort());
    for (const record of mesh[section]) {
      const upstream = direct[section].find((candidate) => recordKey(candidate) === recordKey(record))!;
      expect(record.ttl, `${section} ${recordKey(record)}`).toBeLessThanOrEqual(upstream.ttl);
    }
  }
}

afterAll(stopAllProcesses);

describe.skipIf(KNOT_MISSING)('forwarding to knot through mesh-dns', () => {
  let knot: KnotServer;

  beforeAll(async () => {
    knot = await startKnot();
  });
  afterAll(async () => {
    await knot?.stop();
  });

  describe('answers, TC, TTLs and the cache', () => {
    let mesh: MeshDnsProcess;

    beforeAll(async () => {
      mesh = await startMeshDnsProcess({ env: forwardingEnv(`${LOOPBACK}:${knot.port}`) });
      // The loop probe mesh-dns sends at start is the first query knot sees (a name outside
      // example.test); wait for it so the "never forwarded" counts below start from a still point.
      await eventually(async () => (await knot.queryCount()) >= 1, 5000);
    });
    afterAll(async () => {
      await mesh?.stop();
    });

    const CASES = [
      { what: 'a normal name', name: 'www.example.test', type: 'A', options: [], status: 'NOERROR', answerTypes: ['A'], authorityTypes: [] },
      { what: 'a CNAME chain', name: 'alias.example.test', type: 'A', options: [], status: 'NOERROR', answerTypes: ['A', 'CNAME', 'CNAME'], authorityTypes: [] },
      { what: 'NXDOMAIN', name: 'missing.example.test', type: 'A', options: [], status: 'NXDOMAIN', answerTypes: [], authorityTypes: ['SOA'] },
      { what: 'NODATA', name: 'www.example.test', type: 'AAAA', options: [], status: 'NOERROR', answerTypes: [], authorityTypes: ['SOA'] },
      { what: 'a TXT set over 1232 bytes, over TCP', name: 'big.example.test', type: 'TXT', options: ['+tcp'], status: 'NOERROR', answerTypes: ['TXT'], authorityTypes: [] },
    ];

    it.each(CASES)('relays $what ($name $type) as knot gives it', async ({ name, type, options, status, answerTypes, authorityTypes }) => {
      const direct = await dig(LOOPBACK, knot.port, name, type, options);
      // Twice: the first is forwarded, the second comes from the cache; both must be knot's answer.
      for (let round = 0; round < 2; round++) {
        const relayed = await dig(LOOPBACK, mesh.dnsPort, name, type, options);
        expect(relayed.status).toBe(status);
        expect(relayed.answer.map((record) => record.type).sort()).toEqual(answerTypes);
        expect(relayed.authority.map((record) => record.type)).toEqual(authorityTypes);
        expectRelayed(relayed, direct);
      }
    });

    it('sets TC over UDP for the big TXT set and gives the full answer over TCP; plain dig retries over TCP', async () => {
      const udp = await dig(LOOPBACK, mesh.dnsPort, 'big.example.test', 'TXT', ['+ignore', '+notcp']);
      expect(udp.protocol).toBe('UDP');
      expect(udp.status).toBe('NOERROR');
      expect(udp.flags).toContain('tc');
      expect(udp.answer).toEqual([]);
      expect(udp.size).toBeLessThanOrEqual(1232);

      const tcp = await dig(LOOPBACK, mesh.dnsPort, 'big.example.test', 'TXT', ['+tcp']);
      expect(tcp.flags).not.toContain('tc');
      expect(tcp.size).toBeGreaterThan(1232);
      expect(tcp.answer).toHaveLength(1);
      expect(tcp.answer[0]!.data).toBe(BIG_TXT_STRINGS.map((text) => `"${text}"`).join(' '));

      const plain = await dig(LOOPBACK, mesh.dnsPort, 'big.example.test', 'TXT');
      expect(plain.protocol).toBe('TCP');
      expect(plain.answer.map(recordKey)).toEqual(tcp.answer.map(recordKey));
    });

    it('counts TTLs down between two queries and restores the client\'s question case', async () => {
      const first = await dig(LOOPBACK, mesh.dnsPort, 'www.example.test', 'A');
      const firstAt = performance.now();
      await sleep(2100);
      // A raw query so the question section can be compared byte for byte.
      const query = buildQuery({ id: 0x4d2e, name: 'WwW.ExAmPlE.TeSt', type: 'A', edns: {} });
      const response = await queryUdp(mesh.dnsPort, query);
      const elapsed = (performance.now() - firstAt) / 1000;
      const decoded = decode(response);
      expect(decoded.id).toBe(0x4d2e);
      expect(decoded.rcode).toBe(0);
      const question = questionFor('WwW.ExAmPlE.TeSt', 1);
      expect(response.subarray(12, 12 + question.length).toString('latin1')).toBe(question.toString('latin1'));
      expect(decoded.answers.map((record) => (record as { address?: string }).address)).toEqual(['192.0.2.1']);

      const ttlBefore = first.answer[0]!.ttl;
      const ttlAfter = decoded.answers[0]!.ttl;
      console.log(`TTL countdown: ${ttlBefore} s → ${ttlAfter} s after ${elapsed.toFixed(2)} s`);
      expect(ttlBefore).toBeLessThanOrEqual(300);
      // The server floors the age: the drop is the elapsed time rounded down or up.
      expect(ttlBefore - ttlAfter).toBeGreaterThanOrEqual(Math.floor(elapsed - 0.1));
      expect(ttlBefore - ttlAfter).toBeLessThanOrEqual(Math.ceil(elapsed + 0.1));
    });

    it('caches NXDOMAIN and NODATA from the SOA: a repeat does not reach knot, TTL ≤ SOA minimum', async () => {
      const cases = [
        { name: `nx-${Date.now()}.example.test`, type: 'A', status: 'NXDOMAIN' },
        { name: `www.example.test`, type: 'TXT', status: 'NOERROR' },
      ];
      for (const { name, type, status } of cases) {
        const before = await knot.queryCount('example.test');
        const first = await dig(LOOPBACK, mesh.dnsPort, name, type);
        expect(await knot.queryCount('example.test')).toBe(before + 1);
        await sleep(1100);
        const second = await dig(LOOPBACK, mesh.dnsPort, name, type);
        expect(await knot.queryCount('example.test'), `${name} ${type} repeated`).toBe(before + 1);
        for (const result of [first, second]) {
          expect(result.status).toBe(status);
          expect(result.answer).toEqual([]);
          expect(result.authority.map((record) => record.type)).toEqual(['SOA']);
          expect(result.authority[0]!.ttl).toBeLessThanOrEqual(EXAMPLE_SOA_MINIMUM);
        }
        // Served from the cache: the TTL has counted down.
        expect(second.authority[0]!.ttl).toBeLessThan(first.authority[0]!.ttl);
      }
    });

    it('never forwards mesh names, single labels or private reverse names; other names do reach knot', async () => {
      const before = await knot.queryCount();
      const mesh1 = await dig(LOOPBACK, mesh.dnsPort, 'nobody.mesh.local', 'A');
      expect(mesh1.status).toBe('NXDOMAIN');
      expect(mesh1.flags).toContain('aa');
      const single = await dig(LOOPBACK, mesh.dnsPort, 'foo', 'A');
      expect(single.status).toBe('NXDOMAIN');
      const reverse = await dig(LOOPBACK, mesh.dnsPort, '1.0.0.127.in-addr.arpa', 'PTR');
      expect(reverse.status).toBe('NXDOMAIN');
      expect(await knot.queryCount()).toBe(before);

      // The counter does move for a name that is forwarded.
      const forwarded = await dig(LOOPBACK, mesh.dnsPort, `counted-${Date.now()}.example.test`, 'A');
      expect(forwarded.status).toBe('NXDOMAIN');
      expect(await knot.queryCount()).toBe(before + 1);
    });
  });

  describe('forceTcp', () => {
    let mesh: MeshDnsProcess;

    beforeAll(async () => {
      mesh = await startMeshDnsProcess({ env: forwardingEnv(`${LOOPBACK}:${knot.port}`, { MESH_DNS_UPSTREAM_FORCE_TCP: 'true' }) });
    });
    afterAll(async () => {
      await mesh?.stop();
    });

    it('relays the same answers and knot sees the queries over TCP only', async () => {
      const before = await knot.counters('example.test');
      const www = await dig(LOOPBACK, mesh.dnsPort, 'www.example.test', 'A');
      const alias = await dig(LOOPBACK, mesh.dnsPort, 'alias.example.test', 'A');
      const after = await knot.counters('example.test');
      expect(after.tcp - before.tcp).toBe(2);
      expect(after.udp - before.udp).toBe(0);

      expectRelayed(www, await dig(LOOPBACK, knot.port, 'www.example.test', 'A'));
      expectRelayed(alias, await dig(LOOPBACK, knot.port, 'alias.example.test', 'A'));
      expect(www.answer.map((record) => record.data)).toEqual(['192.0.2.1']);
    });
  });

  describe('access control', () => {
    let mesh: MeshDnsProcess;

    beforeAll(async () => {
      mesh = await startMeshDnsProcess({
        env: forwardingEnv(`${LOOPBACK}:${knot.port}`, {
          MESH_DNS_RECURSION_NETWORKS: '127.0.0.1/32',
          MESH_DNS_MESH_NETWORKS: '127.0.0.1/32',
          MESH_DNS_RECORDS: 'hello A 192.0.2.10',
        }),
      });
    });
    afterAll(async () => {
      await mesh?.stop();
    });

    it('refuses a client outside the allowed networks (EDE 18) for forwarded and mesh names, without asking knot', async () => {
      const before = await knot.queryCount('example.test');
      for (const name of [`outside-${Date.now()}.example.test`, 'hello.mesh.local']) {
        const refused = await dig(LOOPBACK, mesh.dnsPort, name, 'A', ['-b', '127.0.0.2']);
        expect(refused.status, name).toBe('REFUSED');
        expect(refused.answer).toEqual([]);
        expect(edeCode(refused), name).toBe(18);
        expect(refused.flags).not.toContain('ra');
      }
      expect(await knot.queryCount('example.test')).toBe(before);
    });

    it('answers the same names for a client inside them, with RA', async () => {
      const forwarded = await dig(LOOPBACK, mesh.dnsPort, 'www.example.test', 'A', ['-b', '127.0.0.1']);
      expect(forwarded.status).toBe('NOERROR');
      expect(forwarded.flags).toContain('ra');
      expect(forwarded.answer.map((record) => record.data)).toEqual(['192.0.2.1']);
      const meshName = await dig(LOOPBACK, mesh.dnsPort, 'hello.mesh.local', 'A', ['-b', '127.0.0.1']);
      expect(meshName.status).toBe('NOERROR');
      expect(meshName.flags).toEqual(expect.arrayContaining(['aa', 'ra']));
      expect(meshName.answer.map((record) => record.data)).toEqual(['192.0.2.10']);
    });
  });

  describe('two upstreams, the first one dead (sequential)', () => {
    let dead: KnotServer;
    let mesh: MeshDnsProcess;

    beforeAll(async () => {
      dead = await startKnot();
      dead.pause();
      mesh = await startMeshDnsProcess({
        env: forwardingEnv(`${LOOPBACK}:${dead.port},${LOOPBACK}:${knot.port}`, { MESH_DNS_UPSTREAM_POLICY: 'sequential' }),
      });
    });
    afterAll(async () => {
      await mesh?.stop();
      await dead?.stop();
    });

    it('waits for the dead upstream only until it is marked down, then never again', async () => {
      const latencies: number[] = [];
      for (let index = 0; index < 8; index++) {
        // A new name each time: every query is a cache miss and goes upstream.
        const { result, ms } = await timedDig(mesh.dnsPort, `dead-${index}-${Date.now()}.example.test`, 'A');
        expect(result.status).toBe('NXDOMAIN');
        latencies.push(ms);
      }
      console.log(`dead first upstream (sequential, try timeout ${TRY_TIMEOUT_MS} ms): query latencies ${latencies.join(', ')} ms`);
      // The dead one is asked first, and costs a try timeout, until maxFails (2) takes it down…
      expect(latencies[0]).toBeGreaterThanOrEqual(TRY_TIMEOUT_MS - 50);
      // …after which no query waits for it.
      for (const ms of latencies.slice(2)) expect(ms).toBeLessThan(TRY_TIMEOUT_MS);

      const metrics = await metricsText(mesh);
      expect(metricValue(metrics, `meshdns_forward_upstream_up{to="${LOOPBACK}:${dead.port}"}`)).toBe(0);
      expect(metricValue(metrics, `meshdns_forward_upstream_up{to="${LOOPBACK}:${knot.port}"}`)).toBe(1);
    });
  });

  describe('upstream stopped and restarted', () => {
    let upstream: KnotServer;
    let mesh: MeshDnsProcess;
    const tryTimeoutMs = 1000;

    beforeAll(async () => {
      upstream = await startKnot();
      mesh = await startMeshDnsProcess({
        env: forwardingEnv(`${LOOPBACK}:${upstream.port}`, {
          // A 1 s try within a 1.5 s deadline: the second try is cut by the deadline.
          MESH_DNS_UPSTREAM_TIMEOUT: `${tryTimeoutMs}ms`,
          MESH_DNS_CACHE_SERVFAIL_TTL: '1s',
          // RFC 8767 §5: after a failed refresh the stale entry is not retried for this long
          // (30 s by default); 1 s so recovery is seen within the test.
          MESH_DNS_CACHE_FAILURE_RECHECK: '1s',
        }),
      });
    });
    afterAll(async () => {
      await mesh?.stop();
      await upstream?.stop();
    });

    it('answers expired names stale (TTL 30, EDE 3), uncached names SERVFAIL within the deadline, and recovers', async () => {
      const short = await dig(LOOPBACK, mesh.dnsPort, 'short.example.test', 'A');
      const storedAt = performance.now();
      expect(short.answer.map((record) => [record.data, record.ttl <= 2])).toEqual([['192.0.2.9', true]]);
      const www = await dig(LOOPBACK, mesh.dnsPort, 'www.example.test', 'A');
      expect(www.status).toBe('NOERROR');

      upstream.pause();
      await sleep(Math.max(0, storedAt + 2300 - performance.now()));

      // Never asked before: nothing to serve, SERVFAIL with an EDE, by the deadline.
      const uncached = await timedDig(mesh.dnsPort, 'alias.example.test', 'A');
      console.log(`upstream stopped: uncached name SERVFAIL after ${uncached.ms} ms (deadline ${DEADLINE_MS} ms)`);
      expect(uncached.result.status).toBe('SERVFAIL');
      expect(edeCode(uncached.result)).toBe(22); // No Reachable Authority
      expect(uncached.ms).toBeLessThanOrEqual(DEADLINE_MS + DEADLINE_SLACK_MS);

      // Cached, expired: the stale answer.
      const stale = await timedDig(mesh.dnsPort, 'short.example.test', 'A');
      console.log(`upstream stopped: expired name answered stale after ${stale.ms} ms`);
      expect(stale.result.status).toBe('NOERROR');
      expect(stale.result.answer.map((record) => [record.data, record.ttl])).toEqual([['192.0.2.9', 30]]);
      // dig shows it as `EDE: 3 (Stale Answer): (stale answer)`.
      expect(stale.result.edns?.ede).toMatch(/^3 \(Stale Answer\)/);
      expect(stale.result.ede).toEqual({ code: 3, text: 'stale answer' });
      expect(stale.ms).toBeLessThanOrEqual(DEADLINE_MS + DEADLINE_SLACK_MS);

      // Right after a failure for it, RFC 8767's failure recheck: stale at once.
      const staleAgain = await timedDig(mesh.dnsPort, 'short.example.test', 'A');
      console.log(`upstream stopped: expired name answered stale again after ${staleAgain.ms} ms`);
      expect(edeCode(staleAgain.result)).toBe(3);
      expect(staleAgain.result.answer.map((record) => record.ttl)).toEqual([30]);
      expect(staleAgain.ms).toBeLessThan(tryTimeoutMs);

      // Still fresh in the cache: answered normally, no EDE.
      const wwwCached = await dig(LOOPBACK, mesh.dnsPort, 'www.example.test', 'A');
      expect(wwwCached.status).toBe('NOERROR');
      expect(wwwCached.ede).toBeNull();
      expect(wwwCached.answer.map((record) => record.data)).toEqual(['192.0.2.1']);

      upstream.resume();
      const resumedAt = performance.now();
      await eventually(async () => {
        const result = await dig(LOOPBACK, mesh.dnsPort, 'alias.example.test', 'A');
        return result.status === 'NOERROR' && result.answer.length === 3;
      }, 8000, 200);
      await eventually(async () => {
        const result = await dig(LOOPBACK, mesh.dnsPort, 'short.example.test', 'A');
        return result.status === 'NOERROR' && result.ede === null && result.answer[0]!.ttl <= 2;
      }, 8000, 200);
      console.log(`upstream resumed: fresh answers again after ${Math.round(performance.now() - resumedAt)} ms`);
    });
  });

  describe('forwarding loops and self-upstreams', () => {
    it('detects mesh-dns A → B → A at run time, says so, and answers without spinning', async () => {
      const portA = await freePort();
      const portB = await freePort();
      // B first: its own probe finds nobody at A's port. A's probe then goes A → B → A.
      const b = await startMeshDnsProcess({ env: forwardingEnv(`${LOOPBACK}:${portA}`, { MESH_DNS_LISTEN: `${LOOPBACK}:${portB}` }) });
      const a = await startMeshDnsProcess({ env: forwardingEnv(`${LOOPBACK}:${portB}`, { MESH_DNS_LISTEN: `${LOOPBACK}:${portA}` }) });
      try {
        await eventually(async () => a.process.output().includes('FORWARDING LOOP'), 5000);
        expect(metricValue(await metricsText(a), 'meshdns_forward_loops_detected_total')).toBe(1);

        const { result, ms } = await timedDig(portA, 'www.example.test', 'A');
        console.log(`loop A → B → A: query to A answered ${result.status} after ${ms} ms`);
        expect(result.status).toBe('SERVFAIL');
        expect(edeCode(result)).toBe(22);
        expect(ms).toBeLessThanOrEqual(DEADLINE_MS + DEADLINE_SLACK_MS);
        const viaB = await timedDig(portB, 'other.example.test', 'A');
        expect(viaB.result.status).toBe('SERVFAIL');
        expect(viaB.ms).toBeLessThanOrEqual(DEADLINE_MS + DEADLINE_SLACK_MS);
        // Both still alive, and the loop was reported once.
        expect(metricValue(await metricsText(a), 'meshdns_forward_loops_detected_total')).toBe(1);
        expect(metricValue(await metricsText(b), 'meshdns_forward_loops_detected_total')).toBe(0);
      } finally {
        await a.stop();
        await b.stop();
      }
    });

    it('refuses to start with an upstream that is its own listen address (exit 78, names upstreams.servers)', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'mesh-dns-self-'));
      try {
        const config = join(dir, 'mesh-dns.yaml');
        await writeFile(config, '');
        const port = await freePort();
        const failure = await execFileAsync(NODE_BINARY, [MAIN, '--config', config], {
          cwd: dir,
          timeout: 15_000,
          env: {
            PATH: process.env['PATH'] ?? '/usr/bin:/bin',
            MESH_DNS_LISTEN: `${LOOPBACK}:${port}`,
            MESH_DNS_HTTP_LISTEN: 'off',
            MESH_DNS_UPSTREAMS: `${LOOPBACK}:${port}`,
            MESH_DNS_RESOLV_CONF: TEST_RESOLV_CONF,
            MESH_DNS_SNAPSHOT_PATH: '',
          },
        }).then(
          () => null,
          (error: { code?: number; stderr?: string }) => error,
        );
        expect(failure, 'mesh-dns started with itself as upstream').not.toBeNull();
        expect(failure!.code).toBe(78);
        expect(failure!.stderr).toContain('upstreams.servers');
        expect(failure!.stderr).toContain(`${LOOPBACK}:${port}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

describe.skipIf(DIG_MISSING)('forwarding to a scripted upstream', () => {
  let upstream: ScriptedUpstream;
  let mesh: MeshDnsProcess;
  const SLOW_MS = 300;

  beforeAll(async () => {
    upstream = await startScriptedUpstream((query, reply) => {
      if (query.qname === '') {
        // Health probes (`. NS`): any matching response proves the upstream alive.
        reply.send(answerA(query, '192.0.2.1'));
        return;
      }
      const label = query.qname.split('.')[0]!;
      const forgeries = () => {
        reply.send(answerA(query, '192.0.2.66', { id: (query.id + 1) & 0xffff }));
        reply.send(answerA(query, '192.0.2.67', { question: questionFor('wrong.example.test') }));
        reply.sendFromOtherPort(answerA(query, '192.0.2.68'));
        reply.sendFromOtherAddress(answerA(query, '192.0.2.69'));
      };
      if (label.startsWith('forged-then-right')) {
        forgeries();
        setTimeout(() => reply.send(answerA(query, '192.0.2.77')), 50);
      } else if (label.startsWith('forged-only')) {
        forgeries();
      } else if (label.startsWith('slow')) {
        setTimeout(() => reply.send(answerA(query, '192.0.2.80')), SLOW_MS);
      }
      // Anything else (the loop probe) gets no answer.
    });
    mesh = await startMeshDnsProcess({ env: forwardingEnv(`${LOOPBACK}:${upstream.port}`) });
  });
  afterAll(async () => {
    await mesh?.stop();
    await upstream?.stop();
  });

  it('ignores answers with a wrong ID, a wrong question, or from a wrong port or address, and takes the right one', async () => {
    const name = 'forged-then-right.example.test';
    const { result, ms } = await timedDig(mesh.dnsPort, name, 'A');
    console.log(`forged answers first, the right one 50 ms later: answered after ${ms} ms`);
    expect(result.status).toBe('NOERROR');
    expect(result.answer.map((record) => record.data)).toEqual(['192.0.2.77']);
    // One try: the forgeries were not taken for a failure either.
    expect(upstream.queryCount(name)).toBe(1);
    // The two that reached the socket were counted (the kernel drops the other-port and
    // other-address ones before they reach a connected socket).
    const metrics = await (await fetch(`${mesh.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/meshdns_forward_mismatched_responses_total\{reason="id"\} 1\n/);
    expect(metrics).toMatch(/meshdns_forward_mismatched_responses_total\{reason="question"\} 1\n/);
  });

  it('gives SERVFAIL within the deadline when only forged answers come', async () => {
    const name = 'forged-only.example.test';
    const { result, ms } = await timedDig(mesh.dnsPort, name, 'A');
    console.log(`only forged answers: SERVFAIL after ${ms} ms (try ${TRY_TIMEOUT_MS} ms, deadline ${DEADLINE_MS} ms), ${upstream.queryCount(name)} tries`);
    expect(result.status).toBe('SERVFAIL');
    expect(result.answer).toEqual([]);
    expect(edeCode(result)).toBe(22);
    // Each try waited out its timeout (the forgeries were ignored, not believed or counted as failures)…
    expect(ms).toBeGreaterThanOrEqual(TRY_TIMEOUT_MS * upstream.queryCount(name) - 50);
    // …and the whole stayed within the deadline.
    expect(ms).toBeLessThanOrEqual(DEADLINE_MS + DEADLINE_SLACK_MS);
  });

  it('sends one upstream query for 50 identical concurrent client queries', async () => {
    const name = `slow-${Date.now()}.example.test`;
    const started = performance.now();
    const responses = await Promise.all(Array.from({ length: 50 }, (_, index) =>
      queryUdp(mesh.dnsPort, buildQuery({ id: 1000 + index, name, type: 'A', edns: {} }))));
    const ms = Math.round(performance.now() - started);
    console.log(`50 identical concurrent queries (upstream answers after ${SLOW_MS} ms): all answered after ${ms} ms, ${upstream.queryCount(name)} upstream query`);
    responses.forEach((response, index) => {
      const decoded = decode(response);
      expect(decoded.id).toBe(1000 + index);
      expect(decoded.rcode).toBe(0);
      expect(decoded.answers.map((record) => (record as { address?: string }).address)).toEqual(['192.0.2.80']);
    });
    expect(upstream.queryCount(name)).toBe(1);
  });
});
