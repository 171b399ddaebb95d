#!/usr/bin/env node
// bench/peers/faye-server.cjs — Faye 1.4 (the repository's node_modules/faye) as the benchmark's peer.
//
//   node bench/peers/faye-server.cjs --listen 127.0.0.1:PORT
//
// One Node process (one event loop), the Bayeux endpoint at /bayeux (WebSocket and long-polling),
// advice.timeout 25 s, in-memory engine. GET /health answers 200 once it listens; SIGTERM/SIGINT
// exit at once with status 0 (server.close() would wait for every held connection to end).
'use strict';

const http = require('http');
const path = require('path');

let faye;
try {
  faye = require('faye');
} catch (e) {
  console.error(`faye-server: cannot load faye (${e.message}); run "npm ci" at the repository root`);
  process.exit(2);
}

function usage(msg) {
  console.error(`faye-server: ${msg}\nusage: node ${path.basename(__filename)} --listen HOST:PORT`);
  process.exit(2);
}

let listen = '127.0.0.1:8092';
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--listen' && i + 1 < process.argv.length) listen = process.argv[++i];
  else if (a.startsWith('--listen=')) listen = a.slice('--listen='.length);
  else usage(`unknown argument "${a}"`);
}
const m = /^(.+):(\d+)$/.exec(listen);
if (!m || Number(m[2]) > 65535) usage(`bad --listen "${listen}" (want HOST:PORT)`);
const host = m[1];
const port = Number(m[2]);

const bayeux = new faye.NodeAdapter({ mount: '/bayeux', timeout: 25 });

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
});
bayeux.attach(server); // WebSocket upgrades and the HTTP transports under /bayeux

server.on('error', (e) => {
  console.error(`faye-server: ${e.code === 'EADDRINUSE' ? `${listen} is already in use` : e.message}`);
  process.exit(1);
});
server.listen(port, host, () => {
  const version = require('faye/package.json').version;
  console.log(`faye ${version} listening on http://${host}:${port}/bayeux pid=${process.pid} node=${process.version}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
