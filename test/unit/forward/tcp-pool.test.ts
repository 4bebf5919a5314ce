import { describe, expect, it } from 'vitest';
import { createTcpPool, type TcpOutcome, type TcpPool, type TcpPoolOptions } from '../../../src/forward/tcp-pool.ts';
import { freePort } from '../../support/processes.ts';
import {
  closeFakesAndCheckHandles, answerFor, firstAddress, neverAnswer, sleep, startFakeUpstream, upstreamQuery, waitFor, type FakeUpstream, type ReceivedQuery, type TcpHandler,
} from './fake-upstream.ts';

let pools: TcpPool[] = [];
const fakes = closeFakesAndCheckHandles(() => {
  for (const pool of pools) pool.close();
  pools = [];
});

async function setup(tcp: TcpHandler, options: TcpPoolOptions = {}): Promise<{ upstream: FakeUpstream; pool: TcpPool }> {
  const upstream = await startFakeUpstream({ tcp });
  fakes.push(upstream);
  const pool = createTcpPool(upstream.address, options);
  pools.push(pool);
  return { upstream, pool };
}

/** Answers carry an address derived from the query name ("q7.example" → 192.0.2.7), to check matching. */
function addressFor(query: ReceivedQuery): string {
  return `192.0.2.${Number(/^q(\d+)\./.exec(query.qname)?.[1] ?? 0)}`;
}
const indexed: TcpHandler = (query, reply) => reply(answerFor(query, { address: addressFor(query) }));

function expectAddress(outcome: TcpOutcome, address: string): void {
  expect(outcome.kind).toBe('response');
  if (outcome.kind === 'response') expect(firstAddress(outcome.response)).toBe(address);
}

describe('TCP pool (RFC 7766)', () => {
  it('answers a query over TCP', async () => {
    const { upstream, pool } = await setup(indexed);
    expectAddress(await pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 1000 }), '192.0.2.1');
    expect(upstream.queries).toHaveLength(1);
    expect(upstream.queries[0]).toMatchObject({ transport: 'tcp', qname: 'q1.example' });
    expect(upstream.queries[0]!.edns).toMatchObject({ udpSize: 1232 });
  });

  it('pipelines queries on one connection and matches out-of-order answers by ID and question', async () => {
    const held: Array<{ query: ReceivedQuery; reply: (message: Buffer) => void }> = [];
    const { upstream, pool } = await setup((query, reply) => {
      held.push({ query, reply });
      // Answer only once all five are in, in reverse order: they were pipelined, not serialised.
      if (held.length === 5) for (const item of [...held].reverse()) item.reply(answerFor(item.query, { address: addressFor(item.query) }));
    });
    const outcomes = await Promise.all([1, 2, 3, 4, 5].map((n) => pool.exchange(upstreamQuery(`q${n}.example`), { timeoutMs: 2000 })));
    outcomes.forEach((outcome, index) => expectAddress(outcome, `192.0.2.${index + 1}`));
    expect(upstream.tcpConnectionsAccepted()).toBe(1);
    expect(new Set(upstream.queries.map((q) => q.source))).toEqual(new Set([0]));
    // RFC 7766 §6.2.1: no two in-flight queries share an ID on a connection.
    expect(new Set(upstream.queries.map((q) => q.id)).size).toBe(5);
    expect(pool.stats()).toMatchObject({ connections: 1, opened: 1, inFlight: 0, queued: 0 });
  });

  it('reads a response split across segments, and two responses in one segment', async () => {
    const { pool } = await setup((query, _reply, { socket }) => {
      const message = answerFor(query, { address: addressFor(query) });
      const frame = Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);
      if (query.qname === 'q1.example') {
        // Byte by byte, the length prefix split too.
        frame.forEach((byte, index) => setTimeout(() => socket.write(Buffer.from([byte])), index));
      } else if (query.qname === 'q2.example') {
        pendingFrame = frame;
      } else if (pendingFrame) {
        socket.write(Buffer.concat([pendingFrame, frame]));
      }
    });
    let pendingFrame: Buffer | null = null;
    expectAddress(await pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 2000 }), '192.0.2.1');
    const both = await Promise.all([
      pool.exchange(upstreamQuery('q2.example'), { timeoutMs: 2000 }),
      (async () => {
        await sleep(20);
        return pool.exchange(upstreamQuery('q3.example'), { timeoutMs: 2000 });
      })(),
    ]);
    expectAddress(both[0], '192.0.2.2');
    expectAddress(both[1], '192.0.2.3');
  });

  it('ignores frames with an unknown ID or a wrong question and keeps waiting for the answer', async () => {
    const { pool } = await setup((query, reply) => {
      reply(answerFor(query, { id: query.id ^ 0x0101, address: '203.0.113.66' }));
      reply(answerFor(query, { name: 'evil.example', address: '203.0.113.66' }));
      setTimeout(() => reply(answerFor(query, { address: addressFor(query) })), 20);
    });
    expectAddress(await pool.exchange(upstreamQuery('q9.example'), { timeoutMs: 1000 }), '192.0.2.9');
  });

  it('picks an ID not in flight on the connection even when the random source repeats itself', async () => {
    const ids = [7, 7, 7, 7, 9];
    const held: Array<() => void> = [];
    const { upstream, pool } = await setup((query, reply) => {
      held.push(() => reply(answerFor(query, { address: addressFor(query) })));
      if (held.length === 2) for (const answer of held) answer();
    }, { randomId: () => ids.shift() ?? 11 });
    const outcomes = await Promise.all([pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 1000 }), pool.exchange(upstreamQuery('q2.example'), { timeoutMs: 1000 })]);
    expectAddress(outcomes[0]!, '192.0.2.1');
    expectAddress(outcomes[1]!, '192.0.2.2');
    expect(upstream.queries.map((q) => q.id)).toEqual([7, 9]);
  });

  it('bounds connections and queries per connection, queueing the rest', async () => {
    const inFlight = new Map<number, number>();
    let maxPerConnection = 0;
    const { upstream, pool } = await setup((query, reply, { connection }) => {
      const count = (inFlight.get(connection) ?? 0) + 1;
      inFlight.set(connection, count);
      maxPerConnection = Math.max(maxPerConnection, count);
      setTimeout(() => {
        inFlight.set(connection, inFlight.get(connection)! - 1);
        reply(answerFor(query, { address: addressFor(query) }));
      }, 40);
    }, { maxConnections: 2, maxQueriesPerConnection: 3 });
    const pending = Array.from({ length: 10 }, (_, n) => pool.exchange(upstreamQuery(`q${n}.example`), { timeoutMs: 3000 }));
    await sleep(5);
    expect(pool.stats()).toMatchObject({ connections: 2, inFlight: 6, queued: 4 });
    const outcomes = await Promise.all(pending);
    outcomes.forEach((outcome, n) => expectAddress(outcome, `192.0.2.${n}`));
    expect(upstream.tcpConnectionsAccepted()).toBe(2);
    expect(maxPerConnection).toBe(3);
  });

  it('closes an idle connection after idleTimeoutMs and opens a new one for the next query', async () => {
    const { upstream, pool } = await setup(indexed, { idleTimeoutMs: 100 });
    expectAddress(await pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 1000 }), '192.0.2.1');
    expect(pool.stats().connections).toBe(1);
    expect(await waitFor(() => pool.stats().connections === 0, 1000)).toBe(true);
    expectAddress(await pool.exchange(upstreamQuery('q2.example'), { timeoutMs: 1000 }), '192.0.2.2');
    expect(upstream.tcpConnectionsAccepted()).toBe(2);
    expect(pool.stats().opened).toBe(2);
  });

  it('reconnects after the upstream closed an idle connection', async () => {
    const { upstream, pool } = await setup((query, reply, { socket }) => {
      reply(answerFor(query, { address: addressFor(query) }));
      socket.end(); // the server's own idle policy (RFC 7766 §6.2.4)
    });
    expectAddress(await pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 1000 }), '192.0.2.1');
    await waitFor(() => pool.stats().connections === 0, 1000);
    expectAddress(await pool.exchange(upstreamQuery('q2.example'), { timeoutMs: 1000 }), '192.0.2.2');
    expect(upstream.tcpConnectionsAccepted()).toBe(2);
  });

  it('retries unanswered queries once on a new connection when the upstream closes mid-frame (RFC 7766 §6.2.4)', async () => {
    const { upstream, pool } = await setup((query, _reply, { socket, connection, writeFrame }) => {
      const message = answerFor(query, { address: addressFor(query) });
      if (connection === 0) {
        // Length and half the message, then the connection dies.
        socket.write(Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message.subarray(0, 10)]));
        setTimeout(() => socket.destroy(), 10);
      } else {
        writeFrame(message);
      }
    });
    expectAddress(await pool.exchange(upstreamQuery('q4.example'), { timeoutMs: 2000 }), '192.0.2.4');
    expect(upstream.tcpConnectionsAccepted()).toBe(2);
    expect(upstream.queries.map((q) => [q.qname, q.source])).toEqual([['q4.example', 0], ['q4.example', 1]]);
  });

  it('fails with a network error when every connection dies mid-frame', async () => {
    const { upstream, pool } = await setup((query, _reply, { socket }) => {
      const message = answerFor(query);
      socket.write(Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message.subarray(0, 5)]));
      socket.destroy();
    });
    const outcome = await pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 2000 });
    // FIN normally; a reset if the kernel saw unread data. Either way a network failure.
    expect(outcome).toEqual({ kind: 'network', error: expect.stringMatching(/^(connection closed by upstream|ECONNRESET)$/) });
    expect(upstream.tcpConnectionsAccepted()).toBe(2); // the query and its one retry
  });

  it('fails at once when the connection is refused, without retrying', async () => {
    const port = await freePort();
    const pool = createTcpPool({ host: '127.0.0.1', port, family: 'ipv4' });
    pools.push(pool);
    const started = performance.now();
    expect(await pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 2000 })).toEqual({ kind: 'network', error: 'ECONNREFUSED' });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(pool.stats()).toMatchObject({ connections: 0, opened: 1 });
  });

  it('times out a query that gets no answer, and drops a connection on which nothing came back at all', async () => {
    const { upstream, pool } = await setup(neverAnswer);
    const started = performance.now();
    expect(await pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 150 })).toEqual({ kind: 'timeout' });
    expect(performance.now() - started).toBeLessThan(500);
    expect(await waitFor(() => pool.stats().connections === 0, 1000)).toBe(true);
    expect(upstream.tcpConnectionsAccepted()).toBe(1);
  });

  it('keeps a connection on which other answers arrive while one query is slow', async () => {
    const { upstream, pool } = await setup((query, reply) => {
      if (query.qname === 'slow.example') return; // never answered
      setTimeout(() => reply(answerFor(query, { address: addressFor(query) })), 30);
    });
    const slow = pool.exchange(upstreamQuery('slow.example'), { timeoutMs: 150 });
    await sleep(10);
    const fast = pool.exchange(upstreamQuery('q5.example'), { timeoutMs: 1000 });
    expectAddress(await fast, '192.0.2.5');
    expect(await slow).toEqual({ kind: 'timeout' });
    expectAddress(await pool.exchange(upstreamQuery('q6.example'), { timeoutMs: 1000 }), '192.0.2.6');
    expect(upstream.tcpConnectionsAccepted()).toBe(1);
  });

  it('close() ends queries in flight and queued as network failures and closes every connection', async () => {
    const { upstream, pool } = await setup(neverAnswer, { maxConnections: 1, maxQueriesPerConnection: 1 });
    const first = pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 5000 });
    const second = pool.exchange(upstreamQuery('q2.example'), { timeoutMs: 5000 });
    await waitFor(() => upstream.queries.length === 1, 1000);
    expect(pool.stats()).toMatchObject({ inFlight: 1, queued: 1 });
    pool.close();
    expect(await first).toEqual({ kind: 'network', error: 'tcp pool closed' });
    expect(await second).toEqual({ kind: 'network', error: 'tcp pool closed' });
    expect(await pool.exchange(upstreamQuery('q3.example'), { timeoutMs: 5000 })).toEqual({ kind: 'network', error: 'tcp pool closed' });
    expect(pool.stats().connections).toBe(0);
  });

  it('ends as aborted when the signal fires', async () => {
    const { pool } = await setup(neverAnswer);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    expect(await pool.exchange(upstreamQuery('q1.example'), { timeoutMs: 5000, signal: controller.signal })).toEqual({ kind: 'aborted' });
  });
});
