// The query handler reuses one context, request and EdnsInfo while answers are synchronous, and
// hands them to a query whose answer is not (src/pipeline/query-context.ts). These tests hold
// queries in flight (a forward, a prefetch) while many synchronous answers reuse the objects, and
// check that each held query still reads its own question, ID, flags and EDNS, and is answered so.

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AnswerCache } from '../../../src/cache/answer-cache.ts';
import { createCacheStage } from '../../../src/pipeline/stages/cache.ts';
import type { PipelineStage, QueryContext, StageAnswer } from '../../../src/pipeline/types.ts';
import { Flag, RRType } from '../../../src/wire/constants.ts';
import { upstreamQueryOf } from '../../../src/pipeline/stages/forward.ts';
import { FrameAssembler } from '../../../src/listeners/frame-assembler.ts';
import { framed, overlaps } from '../../support/tcp-client.ts';
import { buildQuery, decode, makeHandler, meshInstance, UDP_CLIENT, type QueryOptions } from '../../support/dns-messages.ts';
import { aRecord, T0, upstream } from '../cache/fixtures.ts';

/** What a forward stage reads from its context: taken when it is called and again when it answers. */
function snapshot(context: QueryContext) {
  const { request } = context;
  return {
    qname: request.qname, id: request.id, flags: request.flags, qtype: request.qtype, qclass: request.qclass,
    questionEnd: request.questionEnd, question: request.message.subarray(12, request.questionEnd).toString('hex'),
    edns: request.edns === null ? null : { ...request.edns }, clientAddress: context.clientAddress, transport: context.transport,
  };
}

interface Held {
  context: QueryContext;
  atCall: ReturnType<typeof snapshot>;
  answer: () => void;
}

/** A handler whose forward stage holds every query until `answer()` is called for it. */
function setup() {
  const clock = { now: T0 };
  const held: Held[] = [];
  const forward: PipelineStage = {
    name: 'forward',
    resolve(context: QueryContext): Promise<StageAnswer> {
      return new Promise((resolve) => {
        held.push({
          context,
          atCall: snapshot(context),
          answer: () => {
            const { request } = context;
            const message = upstream({ name: request.qname, type: request.qtype, answers: request.qtype === RRType.A ? [aRecord(300, request.id & 0xff)] : [], edns: null });
            resolve({ kind: 'forwarded', sections: message, forwarded: { query: upstreamQueryOf(context), message } });
          },
        });
      });
    },
  };
  const cache = new AnswerCache({ prefetch: true, prefetchMinHits: 3, prefetchThreshold: 0.1 });
  const { handler } = makeHandler({
    instances: Array.from({ length: 20 }, (_, i) => meshInstance({ id: `agent-${i}`, name: `svc-${i}`, addresses: [`10.0.0.${i + 1}`] })),
    pipeline: { recursion: { cache: createCacheStage({ cache, staleAnswerTimeoutMs: 60_000, now: () => clock.now, logger: pino({ level: 'silent' }) }), forward } },
  });
  return { clock, held, handler };
}

/** Synchronous traffic of every shape the handler reuses its objects for, or rejects. */
function synchronousTraffic(round: number): QueryOptions[] {
  const id = 0x5000 + round;
  return [
    { id, name: `agent-${round % 20}.mesh.local`, type: 'A', edns: { udpSize: 512 + round } },
    { id, name: `AGENT-${round % 20}.Mesh.Local`, type: 'AAAA', cd: true },
    { id, name: `nope-${round}.mesh.local`, type: 'TXT', edns: { do: true, udpSize: 700 } },
    { id, name: 'localhost', type: 'A', rd: false },
    { id, name: `agent-${round % 20}.mesh.local`, type: 'A', edns: { version: 1 } }, // BADVERS
    { id, name: `x${round}.example.com`, type: 'A', opcode: 2, edns: {} }, // NOTIMP
  ];
}

function sendSynchronous(handler: ReturnType<typeof setup>['handler'], round: number): void {
  for (const query of synchronousTraffic(round)) {
    const response = handler(buildQuery(query), UDP_CLIENT);
    expect(response, `${String(query.name)} answers synchronously`).toBeInstanceOf(Buffer);
    expect(decode(response as Buffer).id).toBe(query.id);
  }
}

describe('reused query objects (query-context.ts)', () => {
  it('forwarded queries in flight keep their own request and context while other queries are answered', async () => {
    const { held, handler } = setup();
    const slow: QueryOptions[] = [
      { id: 0x1111, name: 'Slow.Example.COM', type: 'AAAA', cd: true, edns: { udpSize: 4096, do: true } },
      { id: 0x2222, name: 'other.example.org', type: 'A' },
      { id: 0x3333, name: 'third.example.net', type: 'A', rd: true, edns: { udpSize: 1400 } },
    ];
    const pending: Promise<Buffer | null>[] = [];
    slow.forEach((query, index) => {
      const result = handler(buildQuery(query), { transport: 'udp', family: 'ipv4', address: `127.0.0.${index + 2}` });
      expect(result).toBeInstanceOf(Promise);
      pending.push(result as Promise<Buffer | null>);
      // Synchronous answers between the forwards, before any forward stage has even run.
      sendSynchronous(handler, index);
    });
    // The cache stage calls the forward stage a microtask later: let it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(held).toHaveLength(3);
    for (let round = 3; round < 60; round++) sendSynchronous(handler, round);
    // Answered in reverse order, each from what its context says when the upstream answers.
    for (const entry of [...held].reverse()) {
      expect(snapshot(entry.context)).toEqual(entry.atCall);
      entry.answer();
      sendSynchronous(handler, 99);
    }
    const responses = await Promise.all(pending);
    slow.forEach((query, index) => {
      const { atCall } = held[index]!;
      expect(atCall.qname).toBe(String(query.name).toLowerCase());
      expect(atCall.id).toBe(query.id);
      expect(atCall.clientAddress).toBe(`127.0.0.${index + 2}`);
      expect(atCall.edns?.udpSize ?? null).toBe(query.edns?.udpSize ?? null);
      expect(atCall.edns?.dnssecOk ?? false).toBe(query.edns?.do ?? false);
      expect((atCall.flags & Flag.CD) !== 0).toBe(query.cd === true);
      const decoded = decode(responses[index]!);
      expect(decoded.id).toBe(query.id);
      expect(decoded.questions[0]!.name).toBe(query.name); // case as the client sent it
      expect(decoded.questions[0]!.type).toBe(query.type === 'A' ? RRType.A : RRType.AAAA);
      expect(decoded.opt?.do ?? null).toBe(query.edns ? query.edns.do === true : null);
    });
  });

  it('a query read as a view of a TCP chunk keeps its own copy of the message once it is answered later', async () => {
    const { held, handler } = setup();
    const slow: QueryOptions = { id: 0x4444, name: 'Held.Example.COM', type: 'A', edns: { udpSize: 1232 } };
    const local: QueryOptions = { id: 0x4545, name: 'agent-3.mesh.local', type: 'A' };
    // One read of a pipelining client: both queries lie wholly inside it, so both are views of it.
    const chunk = Buffer.concat([framed(buildQuery(slow)), framed(buildQuery(local))]);
    const frames = new FrameAssembler();
    frames.push(chunk);
    const tcp = { transport: 'tcp' as const, family: 'ipv4' as const, address: '127.0.0.9' };
    const first = frames.next()!;
    expect(overlaps(first, chunk)).toBe(true);
    const pending = handler(first, tcp);
    expect(pending).toBeInstanceOf(Promise);
    expect(decode(handler(frames.next()!, tcp) as Buffer).id).toBe(local.id);
    await new Promise((resolve) => setImmediate(resolve));
    expect(held).toHaveLength(1);
    const { context, atCall } = held[0]!;
    expect(overlaps(context.request.message, chunk)).toBe(false);
    expect(overlaps(upstreamQueryOf(context).question, chunk)).toBe(false);
    // The chunk is gone (a socket never reuses one, but nothing here may depend on that).
    chunk.fill(0xee);
    sendSynchronous(handler, 1);
    expect(snapshot(context)).toEqual(atCall);
    held[0]!.answer();
    const decoded = decode((await pending)!);
    expect(decoded.id).toBe(slow.id);
    expect(decoded.questions[0]!.name).toBe(slow.name);
    expect(decoded.opt).not.toBeNull();
  });

  it('a prefetch started by a synchronous cache hit refreshes its own question, not the next query', async () => {
    const { clock, held, handler } = setup();
    const popular = buildQuery({ id: 0x0101, name: 'popular.example.com', type: 'A' });
    const first = handler(popular, UDP_CLIENT) as Promise<Buffer | null>;
    await new Promise((resolve) => setImmediate(resolve));
    held.shift()!.answer();
    await first;
    for (let hit = 0; hit < 3; hit++) expect(handler(popular, UDP_CLIENT)).toBeInstanceOf(Buffer);
    // Within the last 10% of the 300 s lifetime: this hit asks for a background refresh…
    clock.now = T0 + 290_000;
    expect(handler(buildQuery({ id: 0x0202, name: 'POPULAR.example.com', type: 'A' }), UDP_CLIENT)).toBeInstanceOf(Buffer);
    // …which runs after these synchronous queries have reused the handler's objects.
    sendSynchronous(handler, 7);
    await new Promise((resolve) => setImmediate(resolve));
    expect(held).toHaveLength(1);
    expect(held[0]!.atCall).toMatchObject({ qname: 'popular.example.com', id: 0x0202, qtype: RRType.A, edns: null });
    held[0]!.answer();
  });
});
