/**
 * TLS as the agent and the orchestrator start it: the configuration's files read once, the URLs
 * checked against it (https with TLS, http without), and requests made over it. Kept out of the
 * package's index: the CLI, whose start time counts, loads node:https only when it needs it.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { TlsSetting } from './config.js';
import { exchange } from './http-exchange.js';

/** the PEM contents of a component's TLS files */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

/** what a component says at start when its configuration turns TLS off */
export const clearTextWarning = (component: string) =>
  `WARNING: ${component} runs with "tls": false: its traffic (bearer tokens, images, programs' memory) crosses the network in clear text; anyone on the network can read or change it`;

/** the message a configuration without "tls" is refused with */
export const missingTlsMessage = (source: string) =>
  `${source} has no "tls": TLS is on unless turned off explicitly; give "tls": { "caFile", "certFile", "keyFile" } (see deploy/README.md), or "tls": false for clear text`;

export interface TlsStart {
  /** where the configuration came from, for messages: "agent configuration /etc/godwit/agent.json" */
  source: string;
  /** who warns when TLS is off: "the agent of node0" */
  component: string;
  tls: TlsSetting;
  /** the URLs the component serves on or calls, with the field that holds each */
  urls: readonly { what: string; url: string }[];
  /** called with clearTextWarning when TLS is off */
  warn: (message: string) => void;
}

/**
 * Checks that each URL's scheme agrees with `tls` (https with it, http without) and reads its
 * files; throws TlsConfigError naming the URL or file at fault. Undefined material: TLS is off,
 * and `warn` was told so.
 */
export function loadTls({ source, component, tls, urls, warn }: TlsStart): TlsMaterial | undefined {
  const scheme = tls ? 'https:' : 'http:';
  for (const { what, url } of urls) {
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw new TlsConfigError(`${source}: ${what} ${JSON.stringify(url)} is no URL`);
    }
    if (protocol !== scheme) {
      throw new TlsConfigError(
        tls
          ? `${source}: ${what} ${url} is not https, but "tls" is on: write https://, or set "tls": false for clear text everywhere`
          : `${source}: ${what} ${url} is not http, but "tls" is false: write http://, or give "tls" its files`,
      );
    }
  }
  if (!tls) {
    warn(clearTextWarning(component));
    return undefined;
  }
  const read = (field: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new TlsConfigError(`${source}: cannot read tls.${field} ${file}: ${(err as Error).message}`);
    }
  };
  return { ca: read('caFile', tls.caFile), cert: read('certFile', tls.certFile), key: read('keyFile', tls.keyFile) };
}

/** what a client of https needs: the CA the server's certificate must come from, and its own certificate if it shows one */
export type ClientTls = Pick<TlsMaterial, 'ca'> & Partial<Pick<TlsMaterial, 'cert' | 'key'>>;

/** an agent for https requests that presents this component's certificate (if any) and trusts only the cluster's CA */
export function clientAgent(tls: ClientTls): https.Agent {
  return new https.Agent({ ...tls, keepAlive: true });
}

export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
}

export type Fetch = (url: string | URL, init?: FetchInit) => Promise<Response>;

/**
 * fetch over node:http(s), trusting `tls`'s CA and presenting its certificate: Node 20's fetch
 * takes neither a CA nor a client certificate without a library of its own. Fails as exchange()
 * does: with the signal's reason, or the socket's error.
 */
export function fetchOver(tls: ClientTls | undefined): Fetch {
  const agent = tls ? clientAgent(tls) : new http.Agent({ keepAlive: true });
  return async (url, init = {}) => {
    const target = new URL(url);
    const headers = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
    const request = target.protocol === 'https:' ? https.request : http.request;
    const res = await exchange(() => request(target, { method: init.method ?? 'GET', headers, agent: agent as http.Agent }), init.signal, init.body);
    const status = res.statusCode ?? 0;
    const responseHeaders = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) responseHeaders.append(k, one);
    }
    const empty = status === 204 || status === 304 || init.method === 'HEAD';
    if (empty) res.resume();
    return new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers: responseHeaders });
  };
}

/** the CN of the client certificate a connection showed, if the cluster's CA made it; undefined otherwise (or without TLS) */
export function certifiedPeer(socket: Socket): string | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (!tls.encrypted || !tls.authorized || !tls.getPeerCertificate) return undefined;
  const cn = tls.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}
