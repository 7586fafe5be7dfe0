// Process lifecycle shared by the test peers: the READY line that a parent
// waits for, and the ways a peer stops.
//
// A peer stops on SIGTERM or SIGINT, and also when its standard input reaches
// end of file. The Go harness keeps the write end of a pipe to that input
// open, so a test process that dies without cleaning up still stops its peers.
// Started by hand, a peer keeps running while its terminal is open; with
// `</dev/null` it exits at once.

import { once } from 'node:events';

// announceReady prints the one line a parent process waits for. Nothing else
// a peer writes to stdout starts with "READY ".
export function announceReady(url) {
  process.stdout.write(`READY ${url}\n`);
}

// stopOnSignalOrStdinEnd calls stop once, on the first of SIGTERM, SIGINT or
// the end of stdin, then exits with status 0 (1 if stop throws).
export function stopOnSignalOrStdinEnd(name, stop) {
  let stopping = false;

  const shutdown = async (reason) => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.error(`${name}: stopping (${reason})`);
    try {
      await stop();
    } catch (err) {
      console.error(`${name}: stop failed:`, err);
      process.exit(1);
    }
    process.exit(0);
  };

  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}

// listenOnLoopback binds server to 127.0.0.1 and resolves with the port, which
// the system picks when port is 0.
export async function listenOnLoopback(server, port) {
  server.listen({ host: '127.0.0.1', port });
  await once(server, 'listening');
  return server.address().port;
}

// closeServer stops accepting connections and drops the open ones, so that
// keep-alive and SSE connections do not hold the process open.
export async function closeServer(server) {
  const closed = new Promise((resolve) => {
    server.close(() => resolve());
  });
  server.closeAllConnections();
  await closed;
}

// parsePort reads a TCP port number from a command-line value. Port 0 lets
// the system pick a free port.
export function parsePort(value) {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid --port ${JSON.stringify(value)}: want an integer from 0 to 65535`);
  }
  return port;
}
