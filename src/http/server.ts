// Operations HTTP: /metrics (Prometheus), /health (liveness: the process serves), /ready
// (readiness: the zone holds registry state, from a poll or the snapshot file).
//
// /ready's detail names upstream addresses, listeners and the registry's last error (its URL,
// its status): what an operator debugging this host needs, and what nobody else on the network
// should read. In a container the HTTP listener is 0.0.0.0 so Prometheus can scrape /metrics,
// so the detail cannot depend on where we listen, only on who asks: by default (`auto`) it goes
// to loopback clients only (the container's own HEALTHCHECK, `docker exec`/`kubectl exec`
// curl). Orchestrator probes (kubelet, compose healthchecks from outside) read the status code,
// which is the same for everyone.

import http from 'node:http';
import net from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { ReadyDetailPolicy } from '../config/options.ts';
import { formatListenAddress, ListenError, type ListenAddress } from '../listeners/address.ts';

export interface Readiness {
  ready: boolean;
  detail: Record<string, unknown>;
}

export interface OperationsServer {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** True when a client may be shown /ready's detail: `always`, or `auto` and the client is on loopback. */
export function readyDetailVisible(policy: ReadyDetailPolicy, remoteAddress: string | undefined): boolean {
  if (policy === 'always') return true;
  if (policy === 'never' || remoteAddress === undefined) return false;
  // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
  const address = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
  return address === '::1' || (net.isIPv4(address) && address.startsWith('127.'));
}

const HIDDEN_DETAIL = 'shown to loopback clients only (http.readyDetail: auto)';

export async function startOperationsServer(
  address: ListenAddress, register: Registry, readiness: () => Readiness, logger: Logger, readyDetail: ReadyDetailPolicy,
): Promise<OperationsServer> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/health') {
      sendJson(response, 200, { status: 'ok' });
    } else if (path === '/ready') {
      const { ready, detail } = readiness();
      const body = readyDetailVisible(readyDetail, request.socket.remoteAddress) ? { ready, ...detail }
        : { ready, detail: readyDetail === 'never' ? 'not shown (http.readyDetail: never)' : HIDDEN_DETAIL };
      sendJson(response, ready ? 200 : 503, body);
    } else if (path === '/metrics') {
      register.metrics().then(
        (text) => response.writeHead(200, { 'content-type': register.contentType }).end(text),
        (error: unknown) => {
          logger.error({ err: error }, 'collecting metrics failed');
          response.writeHead(500).end();
        },
      );
    } else {
      sendJson(response, 404, { error: 'not found', paths: ['/metrics', '/health', '/ready'] });
    }
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new ListenError('HTTP', address, error)));
    server.listen({ host: address.host, port: address.port, ipv6Only: address.family === 'ipv6' }, () => resolve());
  });
  server.removeAllListeners('error');
  server.on('error', (error) => logger.error({ err: error }, 'operations HTTP server error'));
  const port = (server.address() as { port: number }).port;
  return {
    address: `http://${formatListenAddress({ ...address, port })}`,
    port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}
