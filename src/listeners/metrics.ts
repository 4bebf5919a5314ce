// Metrics of the listeners: what happened to sockets before or around the query handler.
// Labels are bounded: a transport, a reason from a fixed list, an error code from a fixed list
// (anything else is "other"). Never a client address or port.
//
// None of these is touched on the path of a query that is answered normally: they count
// refusals, cuts and errors, which are rare, so the label lookup per increment is fine.

import { Counter, type Registry } from 'prom-client';
import type { Transport } from '../pipeline/types.ts';

/** Why a TCP connection was closed at accept, before a byte of it was read. */
export type ConnectionRefusal =
  | 'access_denied' // the client may see nothing (no view allows mesh or recursion)
  | 'per_source_limit' // limits.tcpMaxConnectionsPerSource reached for this client address
  | 'global_limit'; // limits.tcpMaxConnections reached on this listener

/** Why the server closed an established TCP connection. */
export type ConnectionCut =
  | 'message_timeout' // a message was not complete limits.tcpMessageTimeout after its first byte
  | 'idle_timeout' // no message for limits.tcpIdleTimeout (RFC 7766 §6.2.3)
  | 'output_backlog'; // the client does not read its answers

export interface ListenerMetrics {
  /** A datagram dropped before the query handler saw it. */
  dropped(reason: 'source_port_zero' | 'shutting_down'): void;
  /** An error on a client socket caught at the listener (a send that threw, an 'error' event). */
  socketError(transport: Transport, error: unknown): void;
  connectionRefused(reason: ConnectionRefusal): void;
  connectionCut(reason: ConnectionCut): void;
}

/** Error codes reported as themselves; any other code is counted as "other". */
const KNOWN_ERROR_CODES = new Set([
  'ERR_SOCKET_BAD_PORT', 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'ERR_STREAM_WRITE_AFTER_END', 'ERR_STREAM_DESTROYED',
  'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOBUFS', 'EMSGSIZE', 'EPERM', 'EACCES', 'EINVAL', 'ENETUNREACH', 'EHOSTUNREACH',
]);

export function errorCodeLabel(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && KNOWN_ERROR_CODES.has(code) ? code : 'other';
}

/**
 * `countDrop` is the query path's dropped-request counter (meshdns_dns_dropped_total{reason}):
 * a datagram the listener drops is a request dropped without an answer like the ones the query
 * handler drops, so it is counted in the same family.
 */
export function createListenerMetrics(register: Registry, countDrop: (reason: string) => void): ListenerMetrics {
  const socketErrors = new Counter({
    name: 'meshdns_dns_socket_errors_total',
    help: 'Errors on client sockets caught at the listeners (sends that threw, socket error events), by transport and error code.',
    labelNames: ['proto', 'code'] as const,
    registers: [register],
  });
  const refused = new Counter({
    name: 'meshdns_tcp_connections_refused_total',
    help: 'TCP connections closed at accept without reading from them, by reason.',
    labelNames: ['reason'] as const,
    registers: [register],
  });
  const cut = new Counter({
    name: 'meshdns_tcp_connections_cut_total',
    help: 'TCP connections closed by the server, by reason.',
    labelNames: ['reason'] as const,
    registers: [register],
  });
  return {
    dropped: (reason) => countDrop(reason),
    socketError: (transport, error) => socketErrors.labels(transport, errorCodeLabel(error)).inc(),
    connectionRefused: (reason) => refused.labels(reason).inc(),
    connectionCut: (reason) => cut.labels(reason).inc(),
  };
}
