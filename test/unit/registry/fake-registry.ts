// A tiny HTTP server for the faults the real registry binary cannot be made to produce (garbage
// bodies, hangs, 5xx, wrong JSON types). Everything else is tested against the real binary.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (request: IncomingMessage, response: ServerResponse) => void;

export interface FakeRegistry {
  url: string;
  /** Replace how the next requests are answered. */
  answer(handler: Handler): void;
  requests: string[];
  close(): Promise<void>;
}

export async function startFakeRegistry(initial: Handler = (_req, res) => json(res, 200, { agents: null, count: 0 })): Promise<FakeRegistry> {
  let handler = initial;
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    answer(next) {
      handler = next;
    },
    requests,
    close() {
      // Hanging handlers never end their responses; drop those sockets.
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export function json(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

export function hang(): Handler {
  return () => {};
}
