// `mesh-dns resolv-conf`: the advice is pure text from (zone, server, deadline); the client's
// total wait must outlast mesh-dns's forwarding deadline, and every setting comes with its why.
import { describe, expect, it } from 'vitest';
import { recommendedTimeoutSeconds, renderResolverAdvice, RESOLVER_ATTEMPTS, runResolvConfCommand } from '../../../src/cli/resolv-conf.ts';

describe('resolv-conf advice', () => {
  const text = renderResolverAdvice({ zone: 'agents.internal', server: '10.0.0.53', deadlineMs: 1600, clientBudgetMs: 2000, port: 53 });

  it('prints resolv.conf, compose and Kubernetes forms of the same settings', () => {
    const settings = text.split('\n').filter((line) => !line.startsWith('#'));
    expect(settings).toContain('nameserver 10.0.0.53');
    expect(settings).toContain('search agents.internal');
    expect(settings).toContain('options ndots:0 timeout:1 attempts:2 single-request-reopen');
    expect(settings).toContain('dns: [10.0.0.53]');
    expect(settings).toContain('dns_search: [agents.internal]');
    expect(settings).toContain('dns_opt: [ndots:0, timeout:1, attempts:2, single-request-reopen]');
    expect(text).toContain('dnsConfig:\n  nameservers: ["10.0.0.53"]\n  searches: ["agents.internal"]\n  options:\n    - name: ndots\n      value: "0"');
    expect(text).not.toContain('NOTE');
  });

  it('explains each resolv.conf option on its own comment line', () => {
    for (const option of ['ndots:0', 'timeout:1', 'attempts:2', 'single-request-reopen']) expect(text).toMatch(new RegExp(`^#\\s+${option}\\s`, 'm'));
  });

  it('spreads the timing contract\'s client budget over the attempts, and says so when the deadline does not fit it', () => {
    expect([recommendedTimeoutSeconds(2000), recommendedTimeoutSeconds(6000), recommendedTimeoutSeconds(500)]).toEqual([1, 3, 1]);
    expect(RESOLVER_ATTEMPTS).toBe(2);
    expect(text).not.toContain('does not end inside');
    expect(renderResolverAdvice({ zone: 'mesh.local', server: '10.0.0.53', deadlineMs: 5000, clientBudgetMs: 2000, port: 53 })).toContain('NOTE: upstreams.deadline (5 s) does not end inside timeout × attempts');
  });

  it('warns when mesh-dns does not listen on port 53, and refuses a server that is not an address', () => {
    expect(renderResolverAdvice({ zone: 'mesh.local', server: '127.0.0.1', deadlineMs: 1600, clientBudgetMs: 2000, port: 1053 })).toContain('NOTE: mesh-dns listens on port 1053');
    const errors: string[] = [];
    expect(runResolvConfCommand(['--server', 'dns.example'], () => undefined, (line) => errors.push(line))).toBe(2);
    expect(errors.join('')).toContain('not an IP address');
  });
});
