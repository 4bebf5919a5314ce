import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PersistentCondition } from '../../../src/logging/persistent-condition.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe('PersistentCondition', () => {
  it('logs the start once, repeats at most once per repeatMs with the count in between, and logs the clear', async () => {
    const { lines, logger } = capture();
    let now = 0;
    const condition = new PersistentCondition({ logger, message: 'snapshot not written', clearedMessage: 'snapshot written again', repeatMs: 60_000, now: () => now });
    for (let poll = 0; poll < 100; poll++) {
      condition.report({ reason: 'EACCES' });
      now += 2_000; // a 2 s poll for 200 s
    }
    condition.clear();
    await new Promise((resolve) => setImmediate(resolve));
    const messages = lines.map((line) => line.msg);
    // t=0, t=60, t=120, t=180 s, then the clear: 5 lines for 100 failures.
    expect(messages).toEqual(['snapshot not written', 'snapshot not written', 'snapshot not written', 'snapshot not written', 'snapshot written again']);
    expect(lines[1]).toMatchObject({ reason: 'EACCES', suppressedSinceLastLog: 29 });
    expect(condition.state).toBeNull();
  });

  it('a flapping condition writes at most one start and one clear per repeatMs', async () => {
    const { lines, logger } = capture();
    let now = 0;
    const condition = new PersistentCondition({ logger, message: 'upstream marked down', clearedMessage: 'upstream up again', repeatMs: 60_000, now: () => now });
    for (let flap = 0; flap < 219; flap++) {
      condition.report({ upstream: 'a' });
      now += 400;
      condition.clear();
      now += 376; // 219 flaps in 170 s, as measured
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.filter((line) => line.msg === 'upstream marked down')).toHaveLength(3);
    expect(lines.filter((line) => line.msg === 'upstream up again')).toHaveLength(3);
    expect(lines[2]).toMatchObject({ suppressedSinceLastLog: 77 });
  });

  it('exposes the state for readiness detail', () => {
    const { logger } = capture();
    let now = 5;
    const condition = new PersistentCondition({ logger, message: 'down', clearedMessage: 'up', now: () => now });
    expect(condition.active).toBe(false);
    condition.report({ error: 'ECONNREFUSED' });
    now = 9;
    condition.report({ error: 'ETIMEDOUT' });
    expect(condition.state).toEqual({ since: 5, detail: { error: 'ETIMEDOUT' }, reports: 2 });
  });
});
