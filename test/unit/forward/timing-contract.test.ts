// The timing contract's checks (forward/timing-contract.ts): the defaults satisfy it, and each
// setting that breaks it is named in a warning.

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { timingVerdicts } from '../../../src/forward/setup.ts';
import { timingContractVerdicts, type TimingSettings } from '../../../src/forward/timing-contract.ts';
import { DEFAULT_CONFIG } from '../../support/mesh-dns.ts';

const DEFAULTS: TimingSettings = { clientBudgetMs: 2_000, deadlineMs: 1_600, tryTimeoutMs: 800, maxTries: 2, serveStale: true, staleAnswerTimeoutMs: 800 };

describe('timing contract checks', () => {
  it('the shipped defaults satisfy it (through the real config loader)', () => {
    expect(timingVerdicts(loadConfig(DEFAULT_CONFIG, {}).config)).toEqual([]);
    expect(timingContractVerdicts(DEFAULTS)).toEqual([]);
  });

  it('warns when the deadline leaves no time for SERVFAIL to reach a timeout:1 attempts:2 client', () => {
    // 1.8 s + 200 ms margin still fits; 1.9 s does not; CoreDNS's 5 s certainly not.
    expect(timingContractVerdicts({ ...DEFAULTS, deadlineMs: 1_800 })).toEqual([]);
    for (const deadlineMs of [1_900, 5_000]) {
      const verdicts = timingContractVerdicts({ ...DEFAULTS, deadlineMs });
      expect(verdicts).toHaveLength(1);
      expect(verdicts[0]).toMatchObject({ level: 'warn', message: expect.stringMatching(/^upstreams\.deadline does not fit the client budget/), fields: { deadlineMs, clientBudgetMs: 2_000 } });
    }
    // Clients that wait 10 s (timeout:5 attempts:2): a 5 s deadline is fine.
    expect(timingContractVerdicts({ ...DEFAULTS, clientBudgetMs: 10_000, deadlineMs: 5_000, tryTimeoutMs: 2_000 })).toEqual([]);
  });

  it('warns when the stale timer misses the first attempt (RFC 8767\'s 1.8 s), unless serve-stale is off', () => {
    const verdicts = timingContractVerdicts({ ...DEFAULTS, staleAnswerTimeoutMs: 1_800 });
    expect(verdicts.map((verdict) => verdict.message)).toEqual([expect.stringMatching(/^cache\.staleAnswerTimeout is not under one client timeout/)]);
    expect(timingContractVerdicts({ ...DEFAULTS, staleAnswerTimeoutMs: 1_800, serveStale: false })).toEqual([]);
  });

  it('warns when the tries cannot fit the deadline; the old CoreDNS-like defaults (2 s × 3 tries, 5 s, 1.8 s) break the deadline and stale checks', () => {
    expect(timingContractVerdicts({ ...DEFAULTS, tryTimeoutMs: 800, maxTries: 4 })).toHaveLength(1);
    const old = timingVerdicts(loadConfig(DEFAULT_CONFIG, { MESH_DNS_UPSTREAM_TIMEOUT: '2s', MESH_DNS_UPSTREAM_DEADLINE: '5s', MESH_DNS_UPSTREAM_TRIES: '3', MESH_DNS_STALE_ANSWER_TIMEOUT: '1.8s' }).config);
    expect(old.map((verdict) => verdict.message.split(' ')[0])).toEqual(['upstreams.deadline', 'cache.staleAnswerTimeout']);
  });
});
