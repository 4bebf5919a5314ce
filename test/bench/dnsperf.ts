// dnsperf runner and output parser.
//
// dnsperf 2.10 prints average/min/max latency and the latency stddev but no percentiles and has no
// latency-histogram option (`-O` only knows num-queries-per-conn, suppress, doh-*). With -v it
// prints one "> RCODE name type latency" line per query, so percentiles are computed from that:
// dnsperf writes those lines straight to a file (not through this process, which would compete
// for the 2 CPUs) and the file is read after the run into a 1 µs-resolution histogram (dnsperf
// prints latencies with 6 decimals, so that is exact).
import { createReadStream, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { runCommand, which } from './procs.ts';

export interface DnsperfOptions {
  port: number;
  queryFile: string;
  /** -l: run for this many seconds. */
  seconds?: number;
  /** -n: run through the file at most this many times. */
  maxRuns?: number;
  /** -c */
  clients: number;
  /** -q: max outstanding queries. */
  outstanding: number;
  /** -T */
  threads: number;
  /** -Q: qps limit; unlimited when undefined. */
  maxQps?: number;
  /** -m: udp (default) or tcp (dnsperf keeps each client's connection open and pipelines). */
  transport?: 'udp' | 'tcp';
  /** -t: per-query timeout in seconds (dnsperf default 5). */
  timeoutS?: number;
  /** When set, run with -v, write stdout to this file and compute latency percentiles. */
  verboseFile?: string;
  /** When set, run dnsperf under `taskset -c <cpu>`. */
  cpu?: string;
  /** Called as soon as dnsperf has exited, before its output is parsed (for CPU/RSS readings). */
  onExit?: () => void;
}

export interface DnsperfStats {
  sent: number;
  completed: number;
  lost: number;
  lostPct: number;
  rcodes: Record<string, number>;
  runTimeS: number;
  qps: number;
  avgLatencyMs: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  stddevLatencyMs: number | null;
}

export interface LatencyPercentiles {
  samples: number;
  timeouts: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export interface DnsperfRun {
  ok: boolean;
  command: string;
  stats?: DnsperfStats;
  percentiles?: LatencyPercentiles;
  error?: string;
}

export async function dnsperfVersion(): Promise<string | null> {
  const bin = which('dnsperf');
  if (!bin) return null;
  const r = await runCommand(bin, ['-h'], { timeoutMs: 5000 });
  return /Version\s+(\S+)/.exec(r.stdout + r.stderr)?.[1] ?? null;
}

function num(text: string, re: RegExp): number | undefined {
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Parse the "Statistics:" block of dnsperf's stdout. Null when the block is missing. */
export function parseDnsperf(text: string): DnsperfStats | null {
  const sent = num(text, /Queries sent:\s+(\d+)/);
  const completed = num(text, /Queries completed:\s+(\d+)/);
  const lost = num(text, /Queries lost:\s+(\d+)/);
  const runTimeS = num(text, /Run time \(s\):\s+([\d.]+)/);
  const qps = num(text, /Queries per second:\s+([\d.]+)/);
  const lat = /Average Latency \(s\):\s+([\d.]+)\s+\(min ([\d.]+), max ([\d.]+)\)/.exec(text);
  const stddev = num(text, /Latency StdDev \(s\):\s+([\d.]+)/);
  if (sent === undefined || completed === undefined || lost === undefined || qps === undefined || runTimeS === undefined) {
    return null;
  }
  const rcodes: Record<string, number> = {};
  const rc = /Response codes:\s+(.*)/.exec(text)?.[1] ?? '';
  for (const m of rc.matchAll(/([A-Z]+)\s+(\d+)\s+\(/g)) rcodes[m[1]!] = Number(m[2]);
  return {
    sent,
    completed,
    lost,
    lostPct: sent > 0 ? (100 * lost) / sent : 0,
    rcodes,
    runTimeS,
    qps,
    // dnsperf omits the latency lines when nothing completed.
    avgLatencyMs: lat ? Number(lat[1]) * 1000 : NaN,
    minLatencyMs: lat ? Number(lat[2]) * 1000 : NaN,
    maxLatencyMs: lat ? Number(lat[3]) * 1000 : NaN,
    stddevLatencyMs: stddev !== undefined ? stddev * 1000 : null,
  };
}

const HIST_US = 1_000_000; // 1 µs buckets up to 1 s, exact beyond that

/** Read a dnsperf -v output file: statistics text (non-"> " lines) + latency percentiles. */
export async function readVerbose(file: string): Promise<{ text: string; percentiles: LatencyPercentiles | undefined }> {
  const hist = new Uint32Array(HIST_US);
  const over: number[] = [];
  let samples = 0;
  let timeouts = 0;
  let sumUs = 0;
  let maxUs = 0;
  const other: string[] = [];
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.startsWith('> ')) {
      other.push(line);
      continue;
    }
    // "> NOERROR agent-0000.mesh.local A 0.000305" or "> T agent-0507.mesh.local A" (timeout)
    const sp = line.lastIndexOf(' ');
    const last = line.slice(sp + 1);
    const first = line.slice(2, line.indexOf(' ', 2));
    if (first === 'T') {
      timeouts++;
      continue;
    }
    const us = Math.round(Number(last) * 1e6);
    if (!Number.isFinite(us)) continue;
    samples++;
    sumUs += us;
    if (us > maxUs) maxUs = us;
    if (us < HIST_US) hist[us]!++;
    else over.push(us);
  }
  if (samples === 0) return { text: other.join('\n'), percentiles: undefined };
  over.sort((a, b) => a - b);
  const pct = (p: number): number => {
    const rank = Math.max(1, Math.ceil(p * samples));
    let acc = 0;
    for (let i = 0; i < HIST_US; i++) {
      acc += hist[i]!;
      if (acc >= rank) return i;
    }
    return over[rank - acc - 1] ?? maxUs;
  };
  return {
    text: other.join('\n'),
    percentiles: {
      samples,
      timeouts,
      meanMs: sumUs / samples / 1000,
      p50Ms: pct(0.5) / 1000,
      p90Ms: pct(0.9) / 1000,
      p99Ms: pct(0.99) / 1000,
      p999Ms: pct(0.999) / 1000,
      maxMs: maxUs / 1000,
    },
  };
}

export async function runDnsperf(o: DnsperfOptions): Promise<DnsperfRun> {
  const bin = which('dnsperf');
  if (!bin) return { ok: false, command: 'dnsperf', error: 'dnsperf not found' };
  const args = ['-s', '127.0.0.1', '-p', String(o.port), '-d', o.queryFile, '-c', String(o.clients)];
  args.push('-q', String(o.outstanding), '-T', String(o.threads));
  if (o.seconds !== undefined) args.push('-l', String(o.seconds));
  if (o.maxRuns !== undefined) args.push('-n', String(o.maxRuns));
  if (o.maxQps !== undefined) args.push('-Q', String(o.maxQps));
  if (o.timeoutS !== undefined) args.push('-t', String(o.timeoutS));
  if (o.transport === 'tcp') args.push('-m', 'tcp');
  if (o.verboseFile) args.push('-v');
  let cmd = bin;
  let argv = args;
  const taskset = o.cpu !== undefined ? which('taskset') : null;
  if (taskset && o.cpu !== undefined) {
    cmd = taskset;
    argv = ['-c', o.cpu, bin, ...args];
  }
  const command = ['dnsperf', ...args].join(' ');
  // Bounded: the time limit (or a generous allowance for -n runs) plus the query timeout + slack.
  const budgetS = (o.seconds ?? 60) + (o.timeoutS ?? 5) + 20;
  const r = await runCommand(cmd, argv, {
    timeoutMs: budgetS * 1000,
    ...(o.verboseFile ? { stdoutFile: o.verboseFile } : {}),
  });
  o.onExit?.();
  let text = r.stdout;
  let percentiles: LatencyPercentiles | undefined;
  if (o.verboseFile) {
    try {
      const v = await readVerbose(o.verboseFile);
      text = v.text;
      percentiles = v.percentiles;
    } finally {
      rmSync(o.verboseFile, { force: true });
    }
  }
  if (r.timedOut) return { ok: false, command, error: `dnsperf killed after ${budgetS}s` };
  const stats = parseDnsperf(text);
  if (!stats) {
    const why = r.error ?? `exit ${r.code ?? r.signal}`;
    return { ok: false, command, error: `dnsperf produced no statistics (${why}): ${r.stderr.trim().slice(-500)}` };
  }
  return { ok: true, command, stats, ...(percentiles ? { percentiles } : {}) };
}
