// Builds the rate-limit stage and its metrics from the config; null when it is off.

import type { Registry } from 'prom-client';
import type { MeshDnsConfig } from '../config/options.ts';
import { createRateLimitStage, registerRateLimitMetrics, type RateLimitStage } from '../pipeline/stages/rate-limit.ts';
import { createCoarseClock } from './coarse-clock.ts';

export function setUpRateLimit(config: MeshDnsConfig, register: Registry): RateLimitStage | null {
  const settings = config.rateLimit;
  if (!settings.enabled) return null;
  const stage = createRateLimitStage({
    queriesPerSecond: settings.queriesPerSecond,
    burst: settings.burst,
    prefixes: { ipv4: settings.ipv4Prefix, ipv6: settings.ipv6Prefix },
    slip: settings.slip,
    allowNetworks: settings.allowNetworks,
    maxClients: settings.maxClients,
  }, createCoarseClock());
  registerRateLimitMetrics(register, stage);
  return stage;
}
