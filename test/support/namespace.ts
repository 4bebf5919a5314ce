// Runs a shell script in network, mount and PID namespaces of its own: only a loopback interface
// (the script brings it up and adds what it needs: veth pairs, iptables rules, addresses such as
// 127.0.0.11 or port 53), nothing reaches this machine's network. Every process the script
// starts is in the PID namespace, so all of them die with it, even when the test is killed
// (`--kill-child`). Returns stdout; the script prints what the test asserts.

//
// Without root, the namespaces are made inside a user namespace of their own in which the caller
// is root (`--map-root-user`), where the kernel allows that (as rootless podman needs it): the
// script's root then owns only those namespaces, which is all it uses.

import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { isRoot, requirementsProblem } from './tools.ts';

const run = promisify(execFile);

/** `unshare` options that give a non-root caller a user namespace to be root in; none for root. */
export const USER_NAMESPACE: readonly string[] = isRoot() ? [] : ['--user', '--map-root-user'];

let userNamespaceProblem: string | null | undefined;

/** Why this non-root user cannot make a user namespace with a network namespace, or null when it can. */
function userNamespaceUnavailable(): string | null {
  if (userNamespaceProblem !== undefined) return userNamespaceProblem;
  const tried = spawnSync('unshare', [...USER_NAMESPACE, '--net', 'true'], { encoding: 'utf8', timeout: 10_000 });
  userNamespaceProblem = tried.status === 0 ? null
    : `needs root or unprivileged user namespaces (unshare --user --map-root-user --net: ${(tried.stderr || tried.error?.message || `exit ${tried.status}`).trim()}). To run it: run the suite as root (sudo npm run test:all), or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0)`;
  return userNamespaceProblem;
}

/** Why namespace tests cannot run here, or null when they can. */
export function namespaceUnavailable(tools: readonly string[] = []): string | null {
  const missing = requirementsProblem(['unshare', 'ip', ...tools]);
  if (missing !== null || isRoot()) return missing;
  return userNamespaceUnavailable();
}

/** Why a process cannot get a private mount namespace here (`unshare ...USER_NAMESPACE -m`), or null. */
export function mountNamespaceUnavailable(tools: readonly string[] = []): string | null {
  const missing = requirementsProblem(['unshare', ...tools]);
  if (missing !== null || isRoot()) return missing;
  return userNamespaceUnavailable();
}

export async function runInNetworkNamespace(script: string, timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run('unshare', [...USER_NAMESPACE, '--net', '--mount', '--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', script], {
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** The blocks a script printed as `== <label>` followed by its lines. */
export function sections(stdout: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const block of stdout.split(/^== /m).slice(1)) {
    const newline = block.indexOf('\n');
    blocks.set(block.slice(0, newline), block.slice(newline + 1).trimEnd());
  }
  return blocks;
}
