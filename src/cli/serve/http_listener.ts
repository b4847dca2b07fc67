// serve's opt-in HTTP listener (--listen HOST:PORT): /metrics (Prometheus text), /status.json
// (the document `status --json` prints), /history.json (throughput samples and recent events,
// for the page) and / (the live status page, status_page.ts). Loopback by default; an address
// other hosts can reach needs a token, which every request must then carry as
// `Authorization: Bearer T` or `?token=T` (the page passes on the one in its own URL).
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { UsageError } from '../args.js';
import { findVerbSpec, usageLine } from '../verbs.js';
import { METRICS_CONTENT_TYPE } from './metrics.js';
import { STATUS_PAGE_HTML } from './status_page.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface HttpRoutes {
  metrics(): string;
  statusJson(): unknown;
  historyJson(): unknown;
}

function usage(message: string): UsageError {
  return new UsageError(message, usageLine(findVerbSpec('serve')!));
}

/** "127.0.0.1:9090", "[::1]:9090", "localhost:0", "0.0.0.0:9090"; port 0 picks a free one. */
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (match === null || port > 65535) throw usage(`--listen must be HOST:PORT (127.0.0.1:9090, [::1]:9090), not '${text}'`);
  const host = match[1] ?? match[2]!;
  if (match[1] !== undefined && isIP(host) !== 6) throw usage(`--listen: '${host}' in brackets is not an IPv6 address`);
  return { host, port };
}

/** Whether only this machine can reach the address (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Checks --listen and --token together, before the array is opened. */
export function checkListenOptions(listen: string, token: string | undefined): ListenAddress {
  const address = parseListenAddress(listen);
  if (!isLoopback(address.host) && (token === undefined || token === '')) {
    throw usage(`--listen ${listen} can be reached from other machines: give --token T (or $ELASTRIPE_TOKEN), which every request must carry`);
  }
  if (token !== undefined && token.length < 8) throw usage('--token must be at least 8 characters');
  return address;
}

export class HttpListener {
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(address: ListenAddress, token: string | undefined, routes: HttpRoutes): Promise<HttpListener> {
    const server = createServer((request, response) => handle(request, response, token, routes));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address() as AddressInfo;
    const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    return new HttpListener(server, `http://${host}:${bound.port}/`);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

function authorized(request: IncomingMessage, url: URL, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = request.headers.authorization;
  const offered = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : url.searchParams.get('token') ?? '';
  const expected = Buffer.from(token);
  const given = Buffer.from(offered);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function handle(request: IncomingMessage, response: ServerResponse, token: string | undefined, routes: HttpRoutes): void {
  // The request target is a path: parsed against the base it would read '//metrics' as a host
  // named metrics with the path '/', and serve the status page for it.
  const target = request.url ?? '/';
  const url = new URL(target.startsWith('/') ? `http://serve.invalid${target}` : target, 'http://serve.invalid');
  const send = (status: number, type: string, body: string): void => {
    response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
  if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'only GET\n');
  if (!authorized(request, url, token)) {
    response.setHeader('www-authenticate', 'Bearer realm="elastripe"');
    return send(401, 'text/plain; charset=utf-8', 'a token is needed: Authorization: Bearer T, or ?token=T\n');
  }
  try {
    switch (url.pathname) {
      case '/':
        response.setHeader('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:");
        return send(200, 'text/html; charset=utf-8', STATUS_PAGE_HTML);
      case '/metrics':
        return send(200, METRICS_CONTENT_TYPE, routes.metrics());
      case '/status.json':
        return send(200, 'application/json', `${JSON.stringify(routes.statusJson(), null, 2)}\n`);
      case '/history.json':
        return send(200, 'application/json', JSON.stringify(routes.historyJson()));
      default:
        return send(404, 'text/plain; charset=utf-8', 'not found: try /, /metrics, /status.json\n');
    }
  } catch (error) {
    return send(503, 'text/plain; charset=utf-8', `${error instanceof Error ? error.message : String(error)}\n`);
  }
}
