// The local-names stage on its own: which names it answers (and how), which it passes on, and
// that the mesh apex it leaves to the mesh zone is the one in force now (SIGHUP can change it).
import { describe, expect, it } from 'vitest';
import { createLocalNamesStage } from '../../../src/pipeline/stages/local-names.ts';
import type { QueryContext, StageAnswer } from '../../../src/pipeline/types.ts';
import { Rcode, RRType } from '../../../src/wire/constants.ts';
import { isInZone, labelCount } from '../../../src/wire/name.ts';
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

  it('decides by the last label exactly as the suffix rules it stands for (isInZone, labelCount), for a corpus', () => {
    const { resolve } = stageWithApex('mesh.local');
    // The rules as written before the last-label shortcut: NXDOMAIN, the loopback answer, or pass.
    const byRules = (name: string, type: number): string => {
      if (isInZone(name, 'localhost')) return 'loopback';
      if (isInZone(name, 'invalid') || isInZone(name, 'onion')) return 'nxdomain';
      if (isInZone(name, 'local') && !isInZone(name, 'mesh.local')) return 'nxdomain';
      if (labelCount(name) === 1 && !new Set<number>([RRType.NS, RRType.SOA, RRType.DS, RRType.DNSKEY]).has(type)) return 'nxdomain';
      if ((name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa')) && /^(\d+\.)*(10|127|168\.192)\.in-addr\.arpa$/.test(name)) return 'nxdomain';
      return 'pass';
    };
    const outcome = (answer: StageAnswer | null) =>
      answer === null ? 'pass' : answer.sections.rcode === Rcode.NXDOMAIN ? 'nxdomain' : answer.sections.answerCount === 1 || answer.kind === 'local' ? 'loopback' : 'other';
    const corpus = [
      '', 'com', 'localhost', 'a.localhost', 'localhostx', 'xlocalhost', 'invalid', 'x.invalid', 'x.invalidx', 'onion', 'abc.onion', 'onions',
      'local', 'printer.local', 'mesh.local', 'weather.mesh.local', 'xmesh.local', 'locals', 'a.ocal', 'www.example.com', 'svc-0001.example.test',
      'arpa', 'x.arpa', 'in-addr.arpa', '1.0.0.10.in-addr.arpa', '1.2.168.192.in-addr.arpa', '4.3.2.1.in-addr.arpa', 'ip6.arpa',
    ];
    for (const name of corpus) {
      for (const type of [RRType.A, RRType.AAAA, RRType.NS, RRType.MX]) {
        expect(outcome(resolve(name, type)), `${name} ${type}`).toBe(byRules(name, type));
      }
    }
  });
});
