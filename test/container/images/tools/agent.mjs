// A small MCP Mesh agent: registers with POST /heartbeat (as the SDKs do, every 2 s) advertising
// its container address, and serves HTTP. Env as the MCP Mesh SDKs read it.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';

const name = process.env.MCP_MESH_AGENT_NAME ?? 'agent';
const port = Number(process.env.MCP_MESH_HTTP_PORT ?? 9090);
const registry = process.env.MCP_MESH_REGISTRY_URL ?? 'http://registry:8000';
const host = process.env.MCP_MESH_HTTP_HOST ?? Object.values(os.networkInterfaces()).flat().find((i) => i.family === 'IPv4' && !i.internal)?.address;
const agentId = `${name}-${randomBytes(4).toString('hex')}`;

http.createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ agent: name, id: agentId, path: request.url }));
}).listen(port, '0.0.0.0');

let lastError = '';
async function heartbeat() {
  try {
    const response = await fetch(`${registry}/heartbeat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        agent_id: agentId, name, agent_type: 'mcp_agent', runtime: 'typescript', version: '1.0.0',
        http_host: host, http_port: port, namespace: 'default',
        tools: [{ function_name: `${name}_tool`, capability: `${name}_service`, version: '1.0.0' }],
      }),
      signal: AbortSignal.timeout(1500),
    });
    const body = await response.json();
    if (body.status !== 'success') throw new Error(JSON.stringify(body));
    if (lastError !== '') console.log(`registered again after: ${lastError}`);
    else if (lastError === '' && !heartbeat.done) console.log(`registered ${agentId} at ${host}:${port} with ${registry}`);
    heartbeat.done = true;
    lastError = '';
  } catch (error) {
    const message = error.cause?.message ?? error.message;
    if (message !== lastError) console.log(`heartbeat failed: ${message}`);
    lastError = message;
  }
}
setInterval(heartbeat, 2000);
heartbeat();
process.on('SIGTERM', () => process.exit(0));
