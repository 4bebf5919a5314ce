// Bounds and precedence rules of the zone: the answer memo cannot be grown by cycling qtypes at a
// CNAME, a static CNAME stands alone over agent records, and large duplicate sets compile fast.

import { describe, expect, it } from 'vitest';
import { RRType } from '../../../src/wire/constants.ts';
import { compileStaticRecords } from '../../../src/zone/static-records.ts';
import { compileZone, OWNER_ANSWER_BUDGET } from '../../../src/zone/compile.ts';
import { AnswerMemo } from '../../../src/zone/answer-memo.ts';
import type { RecordSections } from '../../../src/wire/response.ts';
import { makeHandler, meshInstance } from '../../support/dns-messages.ts';

describe('answer memo at a CNAME name', () => {
  it('grows by one entry for all the types nobody holds, however many are asked', async () => {
    const test = makeHandler({ records: [{ name: 'alias', type: 'CNAME', value: 'hello' }, { name: 'hello', type: 'A', value: '192.0.2.1' }] });
    await test.ask({ name: 'alias.mesh.local', type: RRType.A });
    const afterA = test.zones.answerMemo.size;
    for (let qtype = 1000; qtype < 1500; qtype++) {
      const answer = await test.ask({ name: 'alias.mesh.local', type: qtype });
      expect(answer.rcode).toBe(0);
      expect(answer.answers.map((record) => record.type)).toEqual([RRType.CNAME]);
    }
    expect(test.zones.answerMemo.size).toBe(afterA + 1);
  });
});

describe('name-keyed answer memo (the zone lookup shortcut)', () => {
  it('holds only names that exist, under the types the zone holds: random names and cycled qtypes do not grow it', async () => {
    const test = makeHandler({ records: [{ name: 'alias', type: 'CNAME', value: 'hello' }, { name: 'hello', type: 'A', value: '192.0.2.1' }] });
    for (let index = 0; index < 300; index++) {
      expect((await test.ask({ name: `random-${index}.mesh.local`, type: RRType.A })).rcode).toBe(3);
      await test.ask({ name: 'hello.mesh.local', type: 1000 + index });
      await test.ask({ name: 'alias.mesh.local', type: 2000 + index });
    }
    // alias (its chain) under "a type no zone holds" (0): one entry, whatever was asked. hello's
    // NODATA is not held here: it carries the serial (SOA), which changes without hello changing.
    expect(test.zones.answerMemo.size).toBe(1);
    await test.ask({ name: 'hello.mesh.local', type: RRType.A });
    await test.ask({ name: 'HeLLo.mesh.local', type: RRType.A });
    expect(test.zones.answerMemo.size).toBe(2);
  });
});

describe('AnswerMemo', () => {
  /** An answer whose body is `length` bytes of `fill`, with counts that tell answers apart. */
  const answerOf = (fill: number, length = 16, counts = 1): RecordSections => ({
    rcode: 0, authoritative: true, body: Buffer.alloc(length, fill), answerCount: counts, authorityCount: counts + 1,
    additionalCount: counts + 2, withoutAdditionalLength: Math.max(0, length - 4), rotationUnit: counts === 2 ? length >> 1 : 0,
  });
  /** What assembly reads of a held answer: its bytes and counts. */
  const held = (sections: RecordSections | undefined) => sections && {
    bytes: [...sections.body.subarray(sections.bodyOffset ?? 0, (sections.bodyOffset ?? 0) + (sections.bodyLength ?? sections.body.length))],
    counts: [sections.rcode, sections.authoritative, sections.answerCount, sections.authorityCount, sections.additionalCount, sections.withoutAdditionalLength, sections.rotationUnit],
  };

  it('holds at most `limit` answers over every type, replaces one in place when full, and makes room as answers are forgotten', () => {
    const memo = new AnswerMemo();
    memo.set(RRType.A, 'a.mesh.local', answerOf(1), 3);
    memo.set(RRType.AAAA, 'a.mesh.local', answerOf(2, 40), 3);
    memo.set(RRType.A, 'b.mesh.local', answerOf(3), 3);
    memo.set(RRType.A, 'c.mesh.local', answerOf(4), 3);
    expect(memo.size).toBe(3);
    expect(memo.get(RRType.A, 'c.mesh.local')).toBeUndefined();
    // A replacement of another size: its own bytes, none of the old ones.
    memo.set(RRType.A, 'b.mesh.local', answerOf(5, 300, 2), 3);
    expect(held(memo.get(RRType.A, 'b.mesh.local'))).toEqual(held(answerOf(5, 300, 2)));
    expect(memo.size).toBe(3);
    // Every type's answer at the name goes, and counts as gone.
    memo.forget('a.mesh.local');
    expect(memo.size).toBe(1);
    expect(memo.get(RRType.AAAA, 'a.mesh.local')).toBeUndefined();
    memo.forget('nowhere.mesh.local');
    expect(memo.size).toBe(1);
    memo.set(RRType.A, 'c.mesh.local', answerOf(6), 3);
    memo.set(RRType.TXT, 'c.mesh.local', answerOf(7, 1000), 3);
    expect(memo.size).toBe(3);
    expect(held(memo.get(RRType.TXT, 'c.mesh.local'))).toEqual(held(answerOf(7, 1000)));
    expect(held(memo.get(RRType.A, 'c.mesh.local'))).toEqual(held(answerOf(6)));
    expect(held(memo.get(RRType.A, 'b.mesh.local'))).toEqual(held(answerOf(5, 300, 2)));
    memo.clear();
    expect(memo.size).toBe(0);
    expect(memo.get(RRType.A, 'b.mesh.local')).toBeUndefined();
  });

  it('keeps every answer\'s bytes apart through churn: 5,000 answers set, replaced and forgotten at random, each read back as set', () => {
    const memo = new AnswerMemo();
    const expected = new Map<string, RecordSections>();
    let seed = 7;
    const next = (below: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % below);
    for (let step = 0; step < 5000; step++) {
      const name = `n${next(400)}.mesh.local`;
      if (next(5) === 0) {
        memo.forget(name);
        expected.delete(name);
      } else {
        const answer = answerOf(step & 0xff, 1 + next(600), 1 + next(3));
        memo.set(RRType.A, name, answer, 1000);
        expected.set(name, answer);
      }
    }
    expect(memo.size).toBe(expected.size);
    for (const [name, answer] of expected) expect(held(memo.get(RRType.A, name))).toEqual(held(answer));
  });

  it('reads an answer given as a view into a shared buffer (bodyOffset, bodyLength), and leaves bodies over 64 KiB and TTL-rewritten answers out', () => {
    const memo = new AnswerMemo();
    const shared = Buffer.concat([Buffer.alloc(100, 9), Buffer.alloc(20, 8), Buffer.alloc(100, 9)]);
    memo.set(RRType.A, 'view.mesh.local', { ...answerOf(0), body: shared, bodyOffset: 100, bodyLength: 20 }, 10);
    expect(held(memo.get(RRType.A, 'view.mesh.local'))!.bytes).toEqual(new Array(20).fill(8));
    memo.set(RRType.A, 'huge.mesh.local', answerOf(1, 0x10000), 10);
    memo.set(RRType.A, 'ttl.mesh.local', { ...answerOf(1), ttlOffsets: new Uint16Array([6]) }, 10);
    expect(memo.get(RRType.A, 'huge.mesh.local')).toBeUndefined();
    expect(memo.get(RRType.A, 'ttl.mesh.local')).toBeUndefined();
    expect(memo.size).toBe(1);
  });
});

describe('static CNAME over agent records', () => {
  it('replaces the agent records at that name and reports them', () => {
    const statics = compileStaticRecords([{ name: 'weather', type: 'CNAME', value: 'hello' }], 'mesh.local', 5);
    const zones = compileZone([meshInstance({ id: 'weather-1', name: 'weather' })], statics, { zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseZones: [], serial: 1 });
    const node = zones.byApex.get('mesh.local')!.nodes.get('weather.mesh.local')!;
    expect([...node.keys()]).toEqual([RRType.CNAME]);
    expect(zones.skipped).toContainEqual(expect.objectContaining({ id: 'weather.mesh.local', reason: 'shadowed_by_static_cname' }));
    // The instance's own name is untouched.
    expect(zones.byApex.get('mesh.local')!.nodes.get('weather-1.mesh.local')!.has(RRType.A)).toBe(true);
  });
});

describe('static TXT', () => {
  it('needs at least one string (RFC 1035 §3.3.14)', () => {
    expect(() => compileStaticRecords([{ name: 'empty', type: 'TXT', value: [] }], 'mesh.local', 5)).toThrow(/at least one string/);
  });
});

describe('compile cost', () => {
  it('de-duplicates thousands of records at one name without a quadratic scan, within the owner budget', () => {
    const instances = Array.from({ length: 5000 }, (_, index) => meshInstance({ id: `big-${index}`, name: 'big', addresses: [`10.1.${index >> 8}.${index & 0xff}`] }));
    const started = performance.now();
    const zones = compileZone([...instances, ...instances], [], { zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseZones: [], serial: 1 });
    const elapsed = performance.now() - started;
    console.log(`compiled 10,000 instances (5,000 distinct) at one name in ${elapsed.toFixed(0)} ms`);
    // 5,000 A records (80,000 bytes) cannot fit one 65,535-byte answer: the first 2,048 (32 KiB) are
    // published, the rest counted; the second copy of each instance loses its id to the first.
    expect(zones.byApex.get('mesh.local')!.nodes.get('big.mesh.local')!.get(RRType.A)).toHaveLength(OWNER_ANSWER_BUDGET / 16);
    expect(zones.skipped.filter((skip) => skip.reason === 'answer_size')).toHaveLength(5000 - OWNER_ANSWER_BUDGET / 16);
    expect(zones.skipped.filter((skip) => skip.reason === 'id_collision')).toHaveLength(5000);
  });
});
