// Resolves NAME through getaddrinfo (glibc, the container's resolv.conf) back to back for
// SECONDS, one lookup at a time with a short pause, and prints one JSON summary line.
import { lookup } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const [name = 'weather.mesh.local', seconds = '10', pauseMs = '20'] = process.argv.slice(2);
const end = Date.now() + Number(seconds) * 1000;
const failures = [];
let attempts = 0;
let slowest = 0;
while (Date.now() < end) {
  const started = performance.now();
  attempts++;
  try {
    await lookup(name, { family: 4 });
  } catch (error) {
    failures.push({ at: new Date().toISOString(), code: error.code, ms: Math.round(performance.now() - started) });
  }
  slowest = Math.max(slowest, performance.now() - started);
  await sleep(Number(pauseMs));
}
console.log(JSON.stringify({ name, attempts, failed: failures.length, slowestMs: Math.round(slowest), failures: failures.slice(0, 20) }));
