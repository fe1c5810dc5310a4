/**
 * One HTTP request over node:http (node:https for an https URL), to a URL or an agent's Unix socket. Not fetch: Node's fetch
 * loads its bundled undici on first use (tens of ms), and undici itself for a socket path, which
 * a command as short as `mosrun true` pays for on every start.
 */
import http from 'node:http';
import https from 'node:https';
import { exchange } from '@godwit/schemas/http-exchange';

export interface HttpRequest {
  method: string;
  url: string;
  /** connect here instead of the URL's host (the URL then names only the path) */
  socketPath?: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
  /** for an https URL: the CA (PEM) the server's certificate must come from */
  ca?: string;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  ok: boolean;
  headers: http.IncomingHttpHeaders;
  /** the body as it arrives; read it, or text() or json(), once */
  body: AsyncIterable<Buffer>;
  text(): Promise<string>;
  json<T>(): Promise<T>;
}

/**
 * Resolves once the response's head has arrived. Rejects with the signal's reason when it aborts
 * (a TimeoutError for AbortSignal.timeout), or with the socket's error (its code: ECONNREFUSED...).
 */
export async function request(req: HttpRequest): Promise<HttpResponse> {
  const headers = { ...req.headers };
  if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
  const options = { method: req.method, headers, ...(req.socketPath ? { socketPath: req.socketPath } : {}) };
  const start = () => (req.url.startsWith('https:') ? https.request(req.url, { ...options, ...(req.ca ? { ca: req.ca } : {}) }) : http.request(req.url, options));
  // the body may still be cut by the signal: its stream then fails with the reason
  const res = await exchange(start, req.signal, req.body);
  const status = res.statusCode ?? 0;
  const text = async (): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  return {
    status,
    statusText: res.statusMessage ?? '',
    ok: status >= 200 && status < 300,
    headers: res.headers,
    body: res,
    text,
    json: async <T>() => JSON.parse(await text()) as T,
  };
}
