// `mesh-dns resolv-conf [--zone Z] [--server IP] [--config FILE]`: the resolver settings an agent
// container should use with mesh-dns, as resolv.conf, docker-compose keys and a Kubernetes
// dnsConfig, each line with why. The zone and server come from the flags, else from the config;
// timeout and attempts from the timing contract (upstreams.clientBudget), so the advice matches
// the server it is printed for.
//
// renderResolverAdvice is pure (tested without a process); runResolvConfCommand is the CLI edge.

import net from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import { ANSWER_MARGIN_MS, RECOMMENDED_CLIENT } from '../forward/timing-contract.ts';

export interface ResolverAdviceInput {
  zone: string;
  /** The address agents reach mesh-dns at; glibc and musl only ever use port 53. */
  server: string;
  /** mesh-dns's whole-query forwarding deadline (upstreams.deadline), ms. */
  deadlineMs: number;
  /** The clients' total wait the timing contract is written for (upstreams.clientBudget), ms. */
  clientBudgetMs: number;
  /** The port mesh-dns listens on, to warn when it is not 53. */
  port: number;
}

export const RESOLVER_ATTEMPTS = RECOMMENDED_CLIENT.attempts;

/**
 * Per-try timeout, whole seconds (resolv.conf has no finer unit): the client budget of the timing
 * contract (forward/timing-contract.ts, upstreams.clientBudget) spread over the attempts.
 */
export function recommendedTimeoutSeconds(clientBudgetMs: number): number {
  return Math.max(1, Math.round(clientBudgetMs / 1000 / RESOLVER_ATTEMPTS));
}

export function renderResolverAdvice(input: ResolverAdviceInput): string {
  const timeout = recommendedTimeoutSeconds(input.clientBudgetMs);
  const fits = input.deadlineMs + ANSWER_MARGIN_MS <= timeout * RESOLVER_ATTEMPTS * 1000;
  const options = ['ndots:0', `timeout:${timeout}`, `attempts:${RESOLVER_ATTEMPTS}`, 'single-request-reopen'];
  const lines = [
    '# /etc/resolv.conf for an agent container',
    `nameserver ${input.server}`,
    '#   mesh-dns itself, reached directly (no DNAT in between: see README "The exactly-5-seconds delay").',
    '#   One nameserver only: glibc and musl disagree on how to use several, and they must not disagree on mesh names.',
    `search ${input.zone}`,
    `#   so an agent name typed short (weather) can still complete to weather.${input.zone}.`,
    `options ${options.join(' ')}`,
    '#   ndots:0      every name is asked as typed first: `weather.` is answered from the mesh zone and',
    '#                `registry.` by the container runtime resolver in one round trip, and',
    '#                api.example.com never walks the search list (ndots:5 costs 2–4 extra queries per name).',
    `#   timeout:${timeout}    × attempts:${RESOLVER_ATTEMPTS} = ${timeout * RESOLVER_ATTEMPTS} s, the client budget of mesh-dns's timing contract: its forwarding`,
    `#                deadline (${input.deadlineMs / 1000} s) ends inside it, so the client gets a definite answer (positive, stale with EDE 3,`,
    '#                or SERVFAIL with EDE) instead of giving up first (README "Timing contract").',
    `#   attempts:${RESOLVER_ATTEMPTS}   one retransmission for a lost datagram.`,
    '#   single-request-reopen  glibc: if only one of the parallel A/AAAA answers arrives, resend from a new',
    '#                socket instead of waiting out the timeout (the conntrack race; musl ignores it).',
    '',
    '# docker-compose, per service (podman-compose: the same keys)',
    `dns: [${input.server}]`,
    `dns_search: [${input.zone}]`,
    `dns_opt: [${options.join(', ')}]`,
    '#   Docker still writes 127.0.0.11 into the container and uses these as its upstreams (README "Where Docker\'s 127.0.0.11 sits").',
    '',
    '# Kubernetes pod spec',
    'dnsPolicy: "None"',
    'dnsConfig:',
    `  nameservers: ["${input.server}"]`,
    `  searches: ["${input.zone}"]`,
    '  options:',
    ...options.map((option) => {
      const [name, value] = option.split(':');
      return value === undefined ? `    - name: ${name}` : `    - name: ${name}\n      value: "${value}"`;
    }),
  ];
  if (!fits) lines.push('', `# NOTE: upstreams.deadline (${input.deadlineMs / 1000} s) does not end inside timeout × attempts; clients may give up before mesh-dns answers.`);
  if (input.port !== 53) lines.push('', `# NOTE: mesh-dns listens on port ${input.port}; stub resolvers only use port 53 (set listen.dns to ${input.server}:53).`);
  return `${lines.join('\n')}\n`;
}

const USAGE = 'Usage: mesh-dns resolv-conf [--zone ZONE] [--server IP] [--config FILE]';

/** The CLI edge: flags, config, output. Returns the exit code. */
export function runResolvConfCommand(argv: readonly string[], out: (text: string) => void, err: (text: string) => void): number {
  let values;
  try {
    values = parseArgs({ args: [...argv], options: { zone: { type: 'string' }, server: { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean' } } }).values;
  } catch (error) {
    err(`mesh-dns resolv-conf: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) return out(`${USAGE}\n`), 0;
  if (values.server !== undefined && net.isIP(values.server) === 0) {
    err(`mesh-dns resolv-conf: --server ${JSON.stringify(values.server)} is not an IP address (resolv.conf takes addresses only)\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(values.config).config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(`mesh-dns resolv-conf: invalid config: ${error.message}\n`);
    return 78;
  }
  const listen = config.listen.dns[0];
  // A wildcard or loopback listener: agents share mesh-dns's network namespace (sidecar) or must
  // be told the address with --server.
  const listenHost = listen && listen.host !== '0.0.0.0' && listen.host !== '::' ? listen.host : '127.0.0.1';
  out(renderResolverAdvice({
    zone: (values.zone ?? config.zone.name).replace(/\.$/, ''),
    server: values.server ?? listenHost,
    deadlineMs: config.upstreams.deadline,
    clientBudgetMs: config.upstreams.clientBudget,
    port: listen?.port ?? 53,
  }));
  return 0;
}
