/**
 * Typed client of the orchestrator's REST API (/v1), over node:http: with a token, or on a
 * node through its agent's local socket, where the kernel says who the caller is.
 */
import fs from 'node:fs';
import { isClientConfig } from '@godwit/schemas/client-config-check';
import {
  type ClientConfig,
  GodwitError,
  parseApiError,
  type BalancerSettings,
  type BalancerStatus,
  type BalancerUpdate,
  type Checkpoint,
  type CheckpointInfo,
  type CheckpointRequest,
  type RecoverRequest,
  type DrainResult,
  type Event,
  type LimitsReport,
  type LocalWhoami,
  type Migration,
  type Node,
  type OutputLine,
  type OutputStream,
  type Process,
  type ProcessState,
  type RunRequest,
  NEXT_CURSOR_HEADER,
  PAGE_MAX,
  type SignalQueued,
  type Strategy,
  type WhyQuery,
  type WhyResult,
} from '@godwit/schemas';
import { CliError } from './errors.js';
import { request, type HttpResponse } from './http.js';
import { agentSocketPath, clientConfigPath } from './paths.js';
import type { ProgressStream, WebSocketAddress } from './progress-stream.js';

async function loadClientConfig(env: NodeJS.ProcessEnv): Promise<ClientConfig> {
  const file = clientConfigPath(env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError(`no cluster configured: run \`npm start\` or \`godwit cluster up\` (no ${file}, and no agent socket at ${agentSocketPath(env)})`);
    }
    throw new CliError(`cannot read the client configuration ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`client configuration ${file} is not JSON: ${(err as Error).message}`);
  }
  if (!isClientConfig(parsed)) {
    // TypeBox's checker says why; loaded only now, as it takes long to load
    const [{ Value }, { ClientConfig }] = await Promise.all([import('typebox/value'), import('@godwit/schemas/config')]);
    const first = [...Value.Errors(ClientConfig, parsed)][0];
    throw new CliError(`client configuration ${file} is invalid: ${first ? `${first.instancePath || '/'} ${first.message}` : 'bad shape'}`);
  }
  return parsed;
}

/** On a node: no token, the agent's socket; the agent passes each call on as whoever made it. */
export interface LocalConnection {
  socket: string;
  user: string;
  homeNode: string;
}

/** how the CLI reaches the orchestrator */
export type Connection = ClientConfig | LocalConnection;

const isLocal = (c: Connection): c is LocalConnection => 'socket' in c;

/** the URL requests name on an agent's socket: the socket says where, the host is not used */
const LOCAL_URL = 'http://localhost';

export interface ClientOptions {
  /** ms before a plain request gives up (streams have none) */
  timeoutMs?: number;
}

/** one call: what is sent, and how long to wait for its answer (null: as long as it takes) */
interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
  timeoutMs?: number | null;
}

/** what a move may ask beyond where to and how (MigrateRequest) */
export interface MoveOptions {
  carryMaxBytes?: number | undefined;
  compress?: boolean | undefined;
}

export class GodwitClient {
  readonly config: Connection;
  /** what the CLI talks to, for messages: the orchestrator's URL or the agent's socket */
  readonly where: string;
  private readonly base: string;
  private readonly timeoutMs: number;
  /** the CA (PEM) the orchestrator's certificate must come from, read once it is needed */
  private caPem: string | undefined;

  constructor(config: Connection, opts: ClientOptions = {}) {
    this.config = config;
    this.base = isLocal(config) ? LOCAL_URL : config.url.replace(/\/+$/, '');
    this.where = isLocal(config) ? `the agent's socket ${config.socket}` : `the orchestrator at ${this.base}`;
    this.timeoutMs = opts.timeoutMs ?? 120_000;
  }

  /** On a node, as whoever runs this: asks the agent on `socket` who that is and which node it is. */
  static async local(socket: string, opts: ClientOptions = {}): Promise<GodwitClient> {
    const asking = new GodwitClient({ socket, user: '', homeNode: '' }, opts);
    const me = await asking.json<LocalWhoami>('/local/whoami');
    return new GodwitClient({ socket, user: me.user, homeNode: me.node }, opts);
  }

  /** the configuration's CA, as PEM: given as such, or the file it names */
  private ca(): string | undefined {
    if (isLocal(this.config) || this.config.ca === undefined) return undefined;
    if (this.caPem === undefined) {
      const { ca } = this.config;
      try {
        this.caPem = ca.trimStart().startsWith('-----BEGIN') ? ca : fs.readFileSync(ca, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read the CA ${ca} that the client configuration names: ${(err as Error).message}`);
      }
    }
    return this.caPem;
  }

  private async fetch(path: string, init: CallOptions = {}): Promise<HttpResponse> {
    const method = init.method ?? 'GET';
    const headers: Record<string, string> = { ...init.headers };
    if (!isLocal(this.config)) headers.authorization = `Bearer ${this.config.token}`;
    const timeoutMs = init.timeoutMs === undefined ? this.timeoutMs : init.timeoutMs;
    const signals = [init.signal, timeoutMs === null ? undefined : AbortSignal.timeout(timeoutMs)].filter((s): s is AbortSignal => s != null);
    let res: HttpResponse;
    const ca = this.ca();
    try {
      res = await request({
        ...(ca ? { ca } : {}),
        method,
        url: `${this.base}/v1${path}`,
        headers,
        ...(isLocal(this.config) ? { socketPath: this.config.socket } : {}),
        ...(init.body !== undefined ? { body: init.body } : {}),
        ...(signals.length ? { signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) } : {}),
      });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      if ((err as Error).name === 'TimeoutError') {
        throw new CliError(`${this.where} did not answer ${method} /v1${path} within ${timeoutMs} ms`);
      }
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      const hint = isLocal(this.config) ? "is this node's agent running?" : 'is the cluster up? (`godwit cluster status`)';
      throw new CliError(`cannot reach ${this.where} (${why}); ${hint}`, {
        cause: err,
      });
    }
    if (!res.ok) throw await errorFromResponse(res, `${method} /v1${path}`);
    return res;
  }

  /** where the API's websocket at `path` (under /v1) is, and what to send to open it */
  websocketAddress(path: string): WebSocketAddress {
    if (isLocal(this.config)) return { url: `ws+unix://${this.config.socket}:/v1${path}`, headers: {} };
    const ca = this.ca();
    return { url: `${this.base.replace(/^http/, 'ws')}/v1${path}`, headers: { authorization: `Bearer ${this.config.token}` }, ...(ca ? { ca } : {}) };
  }

  /** the steps of process `id`'s migrations as they happen, until closed or the socket is lost */
  async progress(id: string | number): Promise<ProgressStream> {
    const { openProgressStream } = await import('./progress-stream.js');
    return openProgressStream(this.websocketAddress(`/processes/${encodeURIComponent(String(id))}/progress`));
  }

  private async json<T>(path: string, init: CallOptions = {}): Promise<T> {
    const res = await this.fetch(path, init);
    return res.json<T>();
  }

  private sendJson(path: string, body: unknown, method = 'POST'): Promise<HttpResponse> {
    return this.fetch(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    return (await this.sendJson(path, body)).json<T>();
  }


  listNodes(): Promise<Node[]> {
    return this.json<Node[]>('/nodes');
  }

  run(req: RunRequest): Promise<Process> {
    return this.post<Process>('/processes', req);
  }

  /** `all`: every user's processes, not only the caller's. */
  /** all: everyone's (an administrator's); state: only these; owner: only this user's (an administrator's, or one's own) */
  listProcesses(opts: { all?: boolean; states?: readonly ProcessState[]; owner?: string } = {}): Promise<Process[]> {
    const q = new URLSearchParams();
    if (opts.all) q.set('all', 'true');
    if (opts.states?.length) q.set('state', opts.states.join(','));
    if (opts.owner !== undefined) q.set('owner', opts.owner);
    return this.everyPage<Process>('/processes', q);
  }

  /** a list read page after page, so no one answer grows with the cluster */
  private async everyPage<T>(path: string, query: URLSearchParams): Promise<T[]> {
    const rows: T[] = [];
    let cursor: string | undefined;
    do {
      const q = new URLSearchParams(query);
      q.set('limit', String(PAGE_MAX));
      if (cursor) q.set('cursor', cursor);
      const res = await this.fetch(`${path}?${q}`);
      rows.push(...(await res.json<T[]>()));
      const next = res.headers[NEXT_CURSOR_HEADER];
      cursor = typeof next === 'string' ? next : undefined;
    } while (cursor);
    return rows;
  }

  getProcess(id: string | number): Promise<Process> {
    return this.json<Process>(`/processes/${encodeURIComponent(String(id))}`);
  }

  migrate(id: string | number, to: string, strategy?: Strategy, { carryMaxBytes, compress }: MoveOptions = {}): Promise<Migration> {
    const carry = carryMaxBytes === undefined ? {} : { carryMaxBytes };
    return this.post<Migration>(`/processes/${encodeURIComponent(String(id))}/migrate`, { to, ...(strategy ? { strategy } : {}), ...carry, ...(compress === undefined ? {} : { compress }) });
  }

  drain(node: string): Promise<DrainResult> {
    return this.post<DrainResult>(`/nodes/${encodeURIComponent(node)}/drain`, {});
  }

  undrain(node: string): Promise<Node> {
    return this.post<Node>(`/nodes/${encodeURIComponent(node)}/undrain`, {});
  }

  /** the limits, and the caller's use of them (an administrator's: every user's) */
  limits(): Promise<LimitsReport> {
    return this.json<LimitsReport>('/limits');
  }

  balancer(): Promise<BalancerStatus> {
    return this.json<BalancerStatus>('/balancer');
  }

  async setBalancer(change: BalancerUpdate): Promise<BalancerSettings> {
    return (await this.sendJson('/balancer', change, 'PUT')).json<BalancerSettings>();
  }

  /** with `to`: a dry run of moving it there, with that carry limit */
  why(id: string | number, q: WhyQuery = {}): Promise<WhyResult> {
    const query = new URLSearchParams(Object.entries(q).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]]))).toString();
    return this.json<WhyResult>(`/processes/${encodeURIComponent(String(id))}/why${query ? `?${query}` : ''}`);
  }

  freeze(id: string | number): Promise<Migration> {
    return this.post<Migration>(`/processes/${encodeURIComponent(String(id))}/freeze`, {});
  }

  /** `to`: a node, or 'home'; by default the process's home */
  continue(id: string | number, to?: string): Promise<Migration> {
    return this.post<Migration>(`/processes/${encodeURIComponent(String(id))}/continue`, to ? { to } : {});
  }

  /** MOSIX mosmigrate checkpoint | checkstop | exit */
  checkpoint(id: string | number, then: NonNullable<CheckpointRequest['then']>, compress?: boolean): Promise<Checkpoint> {
    return this.post<Checkpoint>(`/processes/${encodeURIComponent(String(id))}/checkpoint`, compress === undefined ? { then } : { then, compress });
  }

  listCheckpoints(id: string | number): Promise<Checkpoint[]> {
    return this.json<Checkpoint[]>(`/processes/${encodeURIComponent(String(id))}/checkpoints`);
  }

  checkpointInfo(file: string): Promise<CheckpointInfo> {
    return this.json<CheckpointInfo>(`/checkpoints/info?file=${encodeURIComponent(file)}`);
  }

  recover(req: RecoverRequest): Promise<Process> {
    return this.post<Process>('/checkpoints/recover', req);
  }

  getMigration(id: number): Promise<Migration> {
    return this.json<Migration>(`/migrations/${id}`);
  }

  listEvents(): Promise<Event[]> {
    return this.json<Event[]>('/events');
  }

  /** null once delivered; what waits, when the process is frozen (it gets the signal as it continues) */
  async signal(id: string | number, signal: string): Promise<SignalQueued | null> {
    const res = await this.sendJson(`/processes/${encodeURIComponent(String(id))}/signal`, { signal });
    if (res.status === 202) return res.json<SignalQueued>();
    await readToEnd(res);
    return null;
  }

  /** whoever read this stream of the program's output is gone: its next write there gets SIGPIPE */
  async closeOutput(id: string | number, stream: OutputStream): Promise<void> {
    await readToEnd(await this.sendJson(`/processes/${encodeURIComponent(String(id))}/output/close`, { stream }));
  }

  /** an attached follower has written the program's output up to offset */
  async outputWritten(id: string | number, offset: number): Promise<void> {
    await readToEnd(await this.sendJson(`/processes/${encodeURIComponent(String(id))}/output/written`, { offset }));
  }

  async sendStdin(id: string | number, data: Uint8Array, opts: { eof?: boolean } = {}): Promise<void> {
    await readToEnd(
      await this.fetch(`/processes/${encodeURIComponent(String(id))}/stdin${opts.eof ? '?eof=true' : ''}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: data,
      }),
    );
  }

  /**
   * One connection to the output stream from byte `offset`: yields each NDJSON line as it
   * arrives. Ends when the server ends the response (after an exit line, or because it went away).
   */
  async *output(id: string | number, opts: { offset: number; follow: boolean; attach?: boolean; signal?: AbortSignal }): AsyncGenerator<OutputLine> {
    const q = `offset=${opts.offset}${opts.follow ? '&follow=true' : ''}${opts.follow && opts.attach ? '&attach=true' : ''}`;
    const res = await this.fetch(`/processes/${encodeURIComponent(String(id))}/output?${q}`, {
      timeoutMs: null,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of res.body) {
      pending += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line) yield JSON.parse(line) as OutputLine;
      }
    }
    const rest = (pending + decoder.decode()).trim();
    if (rest) yield JSON.parse(rest) as OutputLine;
  }
}

/**
 * An answer that carries nothing is still read to its end: one left unread keeps its connection
 * from serving the next call (a follower reports how far it has written every 16 KiB).
 */
async function readToEnd(res: HttpResponse): Promise<void> {
  await res.text();
}

async function errorFromResponse(res: HttpResponse, what: string): Promise<Error> {
  // a body cut short still leaves the status to report
  const text = await res.text().catch((err: unknown) => `(the body could not be read: ${(err as Error).message})`);
  const body = parseApiError(text);
  if (body) return GodwitError.fromBody(body);
  return new CliError(`${what} failed: HTTP ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 300)}` : ''}`);
}

/**
 * The client the environment names: $GODWIT_CONFIG; else $GODWIT_AGENT_SOCKET; else the client
 * configuration in GODWIT_HOME; else, on a node, its agent's socket at the default path.
 */
export async function connect(env: NodeJS.ProcessEnv = process.env, opts: ClientOptions = {}): Promise<GodwitClient> {
  const socket = agentSocketPath(env);
  const local = !env.GODWIT_CONFIG && (!!env.GODWIT_AGENT_SOCKET || (!fs.existsSync(clientConfigPath(env)) && fs.existsSync(socket)));
  return local ? GodwitClient.local(socket, opts) : new GodwitClient(await loadClientConfig(env), opts);
}
