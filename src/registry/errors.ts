// Typed failures of a registry request. Each carries a stable `code` (for logs) and the bounded
// `reason` used as the `poll_failures_total{reason}` label, so the sync never inspects messages.
import type { PollFailureReason } from './types.ts';

export type RegistryErrorReason = PollFailureReason | 'aborted';

export class RegistryError extends Error {
  readonly code: string;
  readonly reason: RegistryErrorReason;

  constructor(reason: RegistryErrorReason, code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RegistryError';
    this.reason = reason;
    this.code = code;
  }
}

/** The registry answered with a non-2xx status. */
export class RegistryHttpError extends RegistryError {
  readonly status: number;

  constructor(status: number, url: string) {
    super('http', 'REGISTRY_HTTP_STATUS', `registry answered HTTP ${status} for ${url}`);
    this.name = 'RegistryHttpError';
    this.status = status;
  }
}

export const FORMAT_CODES = ['BAD_HTTP', 'BODY_TOO_LARGE', 'NOT_JSON', 'TRUNCATED', 'TOO_DEEP', 'TOO_MANY_AGENTS', 'PROJECTION_TOO_LARGE', 'DUPLICATE_KEY', 'NOT_AN_OBJECT', 'AGENTS_NOT_A_LIST', 'BAD_AGENT', 'DUPLICATE_AGENT_ID', 'BAD_CAPABILITY', 'BAD_EVENTS'] as const;
export type RegistryFormatCode = (typeof FORMAT_CODES)[number];

/** The body is not what a registry sends: too large, not JSON, or JSON of the wrong shape. */
export class RegistryFormatError extends RegistryError {
  declare readonly code: RegistryFormatCode;

  constructor(code: RegistryFormatCode, message: string, options?: ErrorOptions) {
    super('format', code, message, options);
    this.name = 'RegistryFormatError';
  }
}

/** No complete answer within the request timeout (connect, headers and body together). */
export class RegistryTimeoutError extends RegistryError {
  constructor(url: string, timeoutMs: number) {
    super('timeout', 'REGISTRY_TIMEOUT', `registry did not answer ${url} within ${timeoutMs} ms`);
    this.name = 'RegistryTimeoutError';
  }
}

/** The TCP/TLS connection failed or broke (refused, reset, DNS failure of the registry host). */
export class RegistryConnectError extends RegistryError {
  /** The system error code when there is one (ECONNREFUSED, ECONNRESET, ENOTFOUND…). */
  readonly systemCode: string | null;

  constructor(url: string, systemCode: string | null, options?: ErrorOptions) {
    const detail = systemCode ?? (options?.cause instanceof Error ? innermostMessage(options.cause) : null);
    super('connect', 'REGISTRY_CONNECT', `cannot reach registry at ${url}${detail ? ` (${detail})` : ''}`, options);
    this.name = 'RegistryConnectError';
    this.systemCode = systemCode;
  }
}

/** The caller aborted (the sync was stopped); not a registry fault and never counted as one. */
export class RegistryAbortedError extends RegistryError {
  constructor(url: string) {
    super('aborted', 'REGISTRY_ABORTED', `request to ${url} aborted`);
    this.name = 'RegistryAbortedError';
  }
}

// undici wraps the real reason: TypeError('fetch failed') → cause Error('bad port' / 'other side closed').
function innermostMessage(error: Error): string {
  let current = error;
  for (let depth = 0; current.cause instanceof Error && depth < 5; depth++) current = current.cause;
  return current.message;
}
