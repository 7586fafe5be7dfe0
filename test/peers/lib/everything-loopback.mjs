// Preload for @modelcontextprotocol/server-everything in streamableHttp mode:
//
//   PORT=0 node --import ./lib/everything-loopback.mjs \
//     node_modules/@modelcontextprotocol/server-everything/dist/index.js streamableHttp
//
// server-everything 2026.8.31 calls app.listen(PORT) without a host, which
// binds every interface. This module makes each TCP listen in the process
// bind 127.0.0.1 instead, and rejects an explicit host other than loopback.
// It also gives the server the same contract as the other peers: one line
// "READY http://127.0.0.1:<port>/mcp" on stdout once it listens, and exit on
// SIGTERM, SIGINT or the end of stdin. server-everything prints its own log
// lines to stdout as well, so a parent has to keep reading stdout.

import net from 'node:net';

import { announceReady, stopOnSignalOrStdinEnd } from './lifecycle.mjs';

const loopbackHost = '127.0.0.1';
const allowedHosts = new Set([undefined, '', '0.0.0.0', '::', loopbackHost, 'localhost']);
const listen = net.Server.prototype.listen;
let announced = false;

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [options, callback] = loopbackListenArgs(args);

  if (!announced) {
    announced = true;
    this.once('listening', () => {
      announceReady(`http://${loopbackHost}:${this.address().port}/mcp`);
    });
  }

  return callback ? listen.call(this, options, callback) : listen.call(this, options);
};

// loopbackListenArgs turns the forms listen(port[, host][, backlog][, cb]) and
// listen(options[, cb]) into options that bind 127.0.0.1.
function loopbackListenArgs(args) {
  const callback = typeof args.at(-1) === 'function' ? args.at(-1) : undefined;
  const [first, second] = args;

  let options;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    options = { port: Number(first), host: typeof second === 'string' ? second : undefined };
  } else if (first !== null && typeof first === 'object' && 'port' in first) {
    options = { ...first };
  } else {
    throw new Error(`everything-loopback: listen(${String(first)}) is not a TCP port; only TCP listeners are supported`);
  }

  if (!allowedHosts.has(options.host)) {
    throw new Error(`everything-loopback: rejected listen on host ${options.host}: only ${loopbackHost} is allowed`);
  }
  options.host = loopbackHost;
  return [options, callback];
}

// On SIGINT both server-everything's own handler and this one run, and
// whichever calls process.exit first ends the process.
stopOnSignalOrStdinEnd('server-everything', async () => {});
