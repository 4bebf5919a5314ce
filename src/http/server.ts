// Operations HTTP: /metrics (Prometheus), /health (liveness: the process serves), /ready
// (readiness: the zone holds registry state, from a poll or the snapshot file).

import http from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
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

export async function startOperationsServer(address: ListenAddress, register: Registry, readiness: () => Readiness, logger: Logger): Promise<OperationsServer> {
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
      sendJson(response, ready ? 200 : 503, { ready, ...detail });
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
