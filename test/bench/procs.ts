// Process helpers for the benchmark harness: start/stop by pid, bounded one-shot commands,
// free loopback ports, /proc readings (RSS, CPU time), binary lookup.
//
// Every process is spawned in its own process group (detached) and remembered by pid until it
// has been reaped; a process.on('exit') hook SIGKILLs whatever is still remembered, so an
// exception anywhere in the harness cannot leave a server behind.
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  exited: Promise<ExitInfo>;
  exit: ExitInfo | undefined;
}

const live = new Set<number>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGKILL every process this harness started and has not reaped yet. Synchronous (exit hook). */
export function killAllSync(): void {
  for (const pid of live) killGroup(pid, 'SIGKILL');
  live.clear();
}
process.on('exit', killAllSync);

function track(child: ChildProcess): Promise<ExitInfo> {
  return new Promise<ExitInfo>((resolve) => {
    child.once('error', (err) => {
      if (child.pid !== undefined) live.delete(child.pid);
      resolve({ code: null, signal: null, error: err.message });
    });
    child.once('exit', (code, signal) => {
      if (child.pid !== undefined) {
        // Reap any leftovers in the group (e.g. grandchildren), then forget the pid.
        killGroup(child.pid, 'SIGKILL');
        live.delete(child.pid);
      }
      resolve({ code, signal });
    });
  });
}

/** Start a long-running process; stdout+stderr go to logFile. */
export function startProcess(
  name: string,
  cmd: string,
  args: string[],
  opts: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Proc {
  const fd = openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid !== undefined) live.add(child.pid);
  const proc: Proc = {
    name,
    pid: child.pid ?? -1,
    child,
    logFile: opts.logFile,
    exited: track(child),
    exit: undefined,
  };
  void proc.exited.then((e) => {
    proc.exit = e;
  });
  return proc;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SIGTERM the process group, SIGKILL after graceMs. Resolves once the process is reaped. */
export async function stopProcess(proc: Proc, graceMs = 3000): Promise<ExitInfo> {
  if (proc.exit) return proc.exit;
  if (proc.pid > 0) killGroup(proc.pid, 'SIGTERM');
  const first = await Promise.race([proc.exited, sleep(graceMs).then(() => undefined)]);
  if (first) return first;
  if (proc.pid > 0) killGroup(proc.pid, 'SIGKILL');
  const second = await Promise.race([proc.exited, sleep(2000).then(() => undefined)]);
  return second ?? { code: null, signal: 'SIGKILL', error: 'did not exit after SIGKILL' };
}

export interface CmdResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  error?: string;
}

/**
 * Run a command to completion, killed (by pid) after timeoutMs. If stdoutFile is given, stdout is
 * written straight to that file (no pipe through this process) and CmdResult.stdout is empty.
 */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; stdoutFile?: string; cwd?: string },
): Promise<CmdResult> {
  return new Promise<CmdResult>((resolve) => {
    let outFd: number | undefined;
    if (opts.stdoutFile) outFd = openSync(opts.stdoutFile, 'w');
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, {
        cwd: opts.cwd,
        stdio: ['ignore', outFd ?? 'pipe', 'pipe'],
        detached: true,
      });
    } finally {
      if (outFd !== undefined) closeSync(outFd);
    }
    if (child.pid !== undefined) live.add(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 1_000_000) stderr += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
    }, opts.timeoutMs);
    const exited = track(child);
    // 'exit' may fire before the stdio streams are drained: wait for 'close' as well.
    const closed = new Promise<void>((r) => {
      child.once('close', () => r());
      child.once('error', () => r());
    });
    void Promise.all([exited, closed]).then(([e]) => {
      clearTimeout(timer);
      resolve({ code: e.code, signal: e.signal, stdout, stderr, timedOut, ...(e.error ? { error: e.error } : {}) });
    });
  });
}

const handedOut = new Set<number>();

async function tryPort(port: number): Promise<number | null> {
  const tcpPort = await new Promise<number | null>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(null));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr ? addr.port : null;
      srv.close(() => resolve(p));
    });
  });
  if (tcpPort === null) return null;
  const udpOk = await new Promise<boolean>((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ address: '127.0.0.1', port: tcpPort, exclusive: true }, () => s.close(() => resolve(true)));
  });
  return udpOk ? tcpPort : null;
}

/** A port free on 127.0.0.1 for both UDP and TCP, never the same one twice in a run. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await tryPort(0);
    if (p !== null && !handedOut.has(p)) {
      handedOut.add(p);
      return p;
    }
  }
  throw new Error('could not find a free loopback port');
}

/** Resolve a binary from PATH (or check an absolute path). Returns null if not executable. */
export function which(bin: string): string | null {
  const candidates = isAbsolute(bin)
    ? [bin]
    : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, bin));
  if (!isAbsolute(bin)) candidates.push(join('/usr/sbin', bin), join('/sbin', bin));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return null;
}

export interface MemInfo {
  rssKiB: number;
  hwmKiB: number;
}

/** VmRSS / VmHWM of a pid from /proc/<pid>/status, null if unreadable. */
export function readMem(pid: number): MemInfo | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(s);
    if (!rss || !hwm) return null;
    return { rssKiB: Number(rss[1]), hwmKiB: Number(hwm[1]) };
  } catch {
    return null;
  }
}

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime+stime of a pid (all threads) in seconds, from /proc/<pid>/stat; null if unreadable. */
export function readCpuSeconds(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
    return (utime + stime) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** Last n lines of a log file (for failure reasons). */
export function tail(file: string, n = 8): string {
  try {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    return lines.slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** System-wide UDP receive-buffer drops (RcvbufErrors in /proc/net/snmp), null if unreadable. */
export function readUdpRcvbufErrors(): number | null {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const keys = lines[0]?.split(/\s+/) ?? [];
    const vals = lines[1]?.split(/\s+/) ?? [];
    const i = keys.indexOf('RcvbufErrors');
    return i > 0 && vals[i] !== undefined ? Number(vals[i]) : null;
  } catch {
    return null;
  }
}

/**
 * Busy and total CPU seconds of the whole machine (all cores) from /proc/stat. Busy includes
 * steal: time the hypervisor ran something else while this guest's vCPU had work (stealS apart).
 */
export function readSystemCpu(): { busyS: number; totalS: number; stealS: number } | null {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = first.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
    if (v.length < 8 || v.some((x) => !Number.isFinite(x))) return null;
    const total = v.reduce((a, b) => a + b, 0);
    const idle = v[3]! + v[4]!;
    return { busyS: (total - idle) / ticksPerSecond(), totalS: total / ticksPerSecond(), stealS: v[7]! / ticksPerSecond() };
  } catch {
    return null;
  }
}

/** CPU seconds of this process's reaped children (cutime+cstime of /proc/self/stat). */
export function readChildrenCpuSeconds(): number | null {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // cutime is field 16, cstime field 17 (rest[0] is field 3).
    const cu = Number(rest[13]);
    const cs = Number(rest[14]);
    return Number.isFinite(cu) && Number.isFinite(cs) ? (cu + cs) / ticksPerSecond() : null;
  } catch {
    return null;
  }
}
