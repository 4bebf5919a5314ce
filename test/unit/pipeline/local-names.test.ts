// The local-names stage on its own: which names it answers (and how), which it passes on, and
// that the mesh apex it leaves to the mesh zone is the one in force now (SIGHUP can change it).
import { describe, expect, it } from 'vitest';
import { createLocalNamesStage } from '../../../src/pipeline/stages/local-names.ts';
import type { QueryContext, StageAnswer } from '../../../src/pipeline/types.ts';
import { Rcode, RRType } from '../../../src/wire/constants.ts';
import { parseRequest } from '../../../src/wire/request.ts';
import { buildQuery } from '../../support/dns-messages.ts';

function context(name: string, type: number = RRType.A): QueryContext {
  const parsed = parseRequest(buildQuery({ id: 1, name, type }));
  if (!parsed.ok) throw new Error(`test query for ${name} did not parse`);
  return { request: parsed.request, transport: 'udp', family: 'ipv4', clientAddress: '127.0.0.1', recursionAllowed: true, meshAllowed: true, zoneView: 0 };
}

function stageWithApex(initial: string) {
  let apex = initial;
  const stage = createLocalNamesStage({ meshZone: { current: () => ({ meshApex: apex }) }, domainNeeded: true, bogusPriv: true });
  return { resolve: (name: string, type?: number) => stage.resolve(context(name, type), () => { throw new Error('not a wrapping stage'); }) as StageAnswer | null, setApex: (next: string) => (apex = next) };
}

describe('local-names stage', () => {
  it('answers special-use names locally and passes ordinary names on', () => {
    const { resolve } = stageWithApex('mesh.local');
    expect(resolve('localhost')).toMatchObject({ kind: 'local', sections: { rcode: Rcode.NOERROR, answerCount: 1 } });
    expect(resolve('x.invalid')).toMatchObject({ kind: 'local', sections: { rcode: Rcode.NXDOMAIN } });
    expect(resolve('printer.local')).toMatchObject({ kind: 'local', sections: { rcode: Rcode.NXDOMAIN } });
    expect(resolve('www.example.test')).toBeNull();
  });

  it('leaves names under the mesh apex to the mesh zone', () => {
    const { resolve } = stageWithApex('mesh.local');
    expect(resolve('weather.mesh.local')).toBeNull();
  });

  it('follows the apex in force: after a change the old apex is guarded like any .local name', () => {
    const { resolve, setApex } = stageWithApex('mesh.local');
    expect(resolve('weather.mesh.local')).toBeNull();
    setApex('corp.local');
    // The old apex is no longer ours: RFC 6762 §3, never forwarded.
    expect(resolve('weather.mesh.local')).toMatchObject({ kind: 'local', sections: { rcode: Rcode.NXDOMAIN } });
    expect(resolve('weather.corp.local')).toBeNull();
  });
});
