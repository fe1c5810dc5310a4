/**
 * Calls to one node's agent REST API. Agent errors come back as the GodwitError they describe;
 * a node that cannot be reached, or does not answer in time, is GODWIT_ERR_AGENT_UNREACHABLE.
 */
import {
  type AgentProc,
  type CarryCheckRequest,
  type CpuCheckRequest,
  type StagePruneRequest,
  type StagePruneResult,
  type CarryCheckResult,
  type FileSizesRequest,
  type FileSizesResult,
  type StageCheckpointRequest,
  type StageCheckpointResult,
  type TakeCheckpointRequest,
  type TakeCheckpointResult,
  type ControlUpdate,
  type DumpRequest,
  type DumpResult,
  type ExpectResult,
  type FinishResult,
  type KeptAppendQuery,
  type KeptLayout,
  type KeptReadQuery,
  type KeptReadResult,
  type LazyStatus,
  type PageServer,
  type InspectQuery,
  type ProcInspection,
  GodwitError,
  parseApiError,
  type LaunchRequest,
  type OutputStream,
  type RestoreRequest,
  type RestoreResult,
  type SendRequest,
  type SendResult,
  type SignalRequest,
} from '@godwit/schemas';
import { type Fetch, fetchOver } from '@godwit/schemas/tls';

export interface AgentNode {
  name: string;
  url: string;
  token: string;
}

export interface AgentTimeouts {
  /** quick calls: list, stdin, signal, delete */
  shortMs: number;
  /** launch */
  launchMs: number;
  /** dump, send, restore: CRIU and the image transfer */
  longMs: number;
}

export const DEFAULT_AGENT_TIMEOUTS: AgentTimeouts = { shortMs: 10_000, launchMs: 30_000, longMs: 10 * 60_000 };

export interface AgentClient {
  node: AgentNode;
  launch(req: LaunchRequest): Promise<AgentProc>;
  list(): Promise<AgentProc[]>;
  /** the epoch's output frames from byte `offset` of its file; ends after its 'x' frame */
  output(id: number, epoch: number, offset: number, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
  deleteEpoch(id: number, epoch: number): Promise<void>;
  /** one run of the program there, or undefined if the node has none of that number */
  epoch(id: number, epoch: number): Promise<AgentProc | undefined>;
  /** the epoch's output is stored for good up to this file offset: its keeper may spool on */
  taken(id: number, epoch: number, offset: number): Promise<void>;
  /** these output streams of the program's have no reader any more: its next write there gets SIGPIPE */
  closeOutput(id: number, streams: OutputStream[]): Promise<void>;
  stdin(id: number, data: Buffer, eof: boolean): Promise<void>;
  signal(id: number, req: SignalRequest): Promise<void>;
  dump(id: number, req: DumpRequest): Promise<DumpResult>;
  /** a credential that lets a move's source send this (destination) node the migration's images, once */
  expect(migrationId: number): Promise<ExpectResult>;
  send(id: number, req: SendRequest): Promise<SendResult>;
  /** has this (source) node send the files a move of the process would carry to the destination's stage, while it runs */
  carryAhead(id: number, req: SendRequest): Promise<SendResult>;
  restore(id: number, req: RestoreRequest): Promise<RestoreResult>;
  /** has this (destination) node look a Unix account up ahead of a restore; fails if it has none */
  resolveAccount(account: string): Promise<void>;
  /** a CRIU page server at this (destination) node for the migration's pages */
  pageServer(migrationId: number): Promise<PageServer>;
  /** ends the stopped copy a direct dump left at this (source) node: the program moved */
  finish(id: number, migrationId: number): Promise<FinishResult>;
  /** lets the stopped copy a direct dump left at this (source) node run on: the move failed */
  resume(id: number, migrationId: number): Promise<void>;
  /** whether the agent holds images of that migration */
  hasImages(migrationId: number): Promise<boolean>;
  /** forgets a migration's images; moved: it succeeded, and this source removes the node-local files it carried away */
  deleteImages(migrationId: number, moved?: boolean): Promise<void>;
  /** which places of the files a move would carry are taken on this (destination) node */
  carryCheck(req: CarryCheckRequest): Promise<CarryCheckResult>;
  /** `criu cpuinfo check` on this (destination) node of another node's CPU record: GODWIT_ERR_CPU_INCOMPATIBLE naming the features when CRIU would refuse */
  cpuCheck(req: CpuCheckRequest): Promise<void>;
  /** removes this (destination) node's stages of files sent ahead for moves no longer in flight */
  pruneStages(req: StagePruneRequest): Promise<StagePruneResult>;
  /** what would keep the process from leaving this node, or from leaving lazily, and its size (nothing is stopped to find out) */
  inspect(id: number, q?: InspectQuery): Promise<ProcInspection>;
  /** how the background transfer of a lazy migration to this (destination) node goes; the answer may wait waitMs for its end */
  lazyStatus(migrationId: number, waitMs?: number): Promise<LazyStatus>;
  /** stores output of a process whose home is this node (kept-output.ts in the agent) */
  keptAppend(id: number, q: KeptAppendQuery, frames: Buffer): Promise<KeptLayout>;
  keptRead(id: number, q: KeptReadQuery): Promise<KeptReadResult>;
  /** a checkpoint of the process into a file of the checkpoint directory; it runs on, or ends */
  checkpoint(id: number, req: TakeCheckpointRequest): Promise<TakeCheckpointResult>;
  /** unpacks a checkpoint file into images ready for a restore here */
  stageCheckpoint(req: StageCheckpointRequest): Promise<StageCheckpointResult>;
  /** the sizes of files on this node now (null: gone), as a checkpoint's description shows them */
  fileSizes(req: FileSizesRequest): Promise<FileSizesResult>;
  /** what the process's control directory shows, and the answer to its request */
  control(id: number, update: ControlUpdate): Promise<void>;
}

interface CallOptions {
  method: string;
  path: string;
  json?: unknown;
  raw?: Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** statuses that are answers, not errors */
  accept?: number[];
}

/** `fetch`: how requests go out (fetchOver the orchestrator's TLS: its certificate, the cluster's CA) */
export function createAgentClient(node: AgentNode, timeouts: AgentTimeouts = DEFAULT_AGENT_TIMEOUTS, fetch: Fetch = fetchOver(undefined)): AgentClient {
  const base = node.url.replace(/\/+$/, '');

  async function call(o: CallOptions): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${node.token}` };
    let body: string | Buffer | undefined;
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.raw) {
      headers['content-type'] = 'application/octet-stream';
      body = o.raw;
    }
    const signals = [o.signal, o.timeoutMs ? AbortSignal.timeout(o.timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    let res: Response;
    try {
      res = await fetch(`${base}${o.path}`, {
        method: o.method,
        headers,
        body,
        signal: signals.length ? AbortSignal.any(signals) : undefined,
      });
    } catch (err) {
      if (o.signal?.aborted) throw err;
      const why = (err as Error).name === 'TimeoutError'
        ? `no answer in ${o.timeoutMs} ms`
        : describeCause(err);
      throw new GodwitError(
        'GODWIT_ERR_AGENT_UNREACHABLE',
        `the agent of node ${node.name} (${node.url}) could not be reached for ${o.method} ${o.path}: ${why}`,
        { node: node.name },
        { cause: err },
      );
    }
    if (res.ok || o.accept?.includes(res.status)) return res;
    throw await errorOf(res, o);
  }

  async function errorOf(res: Response, o: CallOptions): Promise<GodwitError> {
    const text = await res.text().catch((err: unknown) => `(its body could not be read: ${(err as Error).message})`);
    const body = parseApiError(text);
    if (body) {
      const e = GodwitError.fromBody(body);
      return new GodwitError(e.code, e.message, { ...e.details, node: node.name, agentStatus: res.status });
    }
    return new GodwitError(
      res.status === 404 ? 'GODWIT_ERR_NOT_FOUND' : 'GODWIT_ERR_INTERNAL',
      `the agent of node ${node.name} answered ${o.method} ${o.path} with HTTP ${res.status}: ${text.slice(0, 500)}`,
      { node: node.name, agentStatus: res.status },
    );
  }

  async function json<T>(o: CallOptions): Promise<T> {
    const res = await call(o);
    return (await res.json()) as T;
  }

  async function none(o: CallOptions): Promise<void> {
    const res = await call(o);
    await res.arrayBuffer();
  }

  return {
    node,
    launch: (req) => json({ method: 'POST', path: '/v1/procs', json: req, timeoutMs: timeouts.launchMs }),
    list: () => json({ method: 'GET', path: '/v1/procs', timeoutMs: timeouts.shortMs }),
    output: async (id, epoch, offset, signal) => {
      const res = await call({ method: 'GET', path: `/v1/procs/${id}/output?epoch=${epoch}&offset=${offset}`, signal });
      if (!res.body) throw new GodwitError('GODWIT_ERR_INTERNAL', `node ${node.name} sent no output body`);
      return res.body as unknown as AsyncIterable<Uint8Array>;
    },
    deleteEpoch: (id, epoch) =>
      none({ method: 'DELETE', path: `/v1/procs/${id}/epochs/${epoch}`, timeoutMs: timeouts.shortMs }),
    epoch: async (id, epoch) => {
      const res = await call({ method: 'GET', path: `/v1/procs/${id}/epochs/${epoch}`, timeoutMs: timeouts.shortMs, accept: [404] });
      if (res.status === 404) {
        await res.arrayBuffer();
        return undefined;
      }
      return (await res.json()) as AgentProc;
    },
    taken: (id, epoch, offset) =>
      none({ method: 'POST', path: `/v1/procs/${id}/epochs/${epoch}/taken`, json: { offset }, timeoutMs: timeouts.shortMs }),
    closeOutput: (id, streams) => none({ method: 'POST', path: `/v1/procs/${id}/output/close`, json: { streams }, timeoutMs: timeouts.shortMs }),
    stdin: (id, data, eof) =>
      none({ method: 'POST', path: `/v1/procs/${id}/stdin?eof=${eof}`, raw: data, timeoutMs: timeouts.shortMs }),
    signal: (id, req) => none({ method: 'POST', path: `/v1/procs/${id}/signal`, json: req, timeoutMs: timeouts.shortMs }),
    dump: (id, req) => json({ method: 'POST', path: `/v1/procs/${id}/dump`, json: req, timeoutMs: timeouts.longMs }),
    expect: (mid) => json({ method: 'POST', path: `/v1/images/${mid}/expect`, timeoutMs: timeouts.shortMs }),
    send: (id, req) => json({ method: 'POST', path: `/v1/procs/${id}/send`, json: req, timeoutMs: timeouts.longMs }),
    carryAhead: (id, req) => json({ method: 'POST', path: `/v1/procs/${id}/carry-ahead`, json: req, timeoutMs: timeouts.longMs }),
    restore: (id, req) =>
      json({ method: 'POST', path: `/v1/procs/${id}/restore`, json: req, timeoutMs: timeouts.longMs }),
    resolveAccount: (account) => none({ method: 'POST', path: `/v1/accounts/${encodeURIComponent(account)}/resolve`, timeoutMs: timeouts.shortMs }),
    pageServer: (mid) => json({ method: 'POST', path: `/v1/images/${mid}/page-server`, timeoutMs: timeouts.shortMs }),
    finish: (id, mid) => json({ method: 'POST', path: `/v1/procs/${id}/finish`, json: { migrationId: mid }, timeoutMs: timeouts.shortMs }),
    resume: (id, mid) => none({ method: 'POST', path: `/v1/procs/${id}/resume`, json: { migrationId: mid }, timeoutMs: timeouts.shortMs }),
    hasImages: async (mid) => {
      const res = await call({ method: 'GET', path: `/v1/images/${mid}`, timeoutMs: timeouts.shortMs, accept: [404] });
      await res.arrayBuffer();
      return res.status === 200;
    },
    deleteImages: (mid, moved = false) => none({ method: 'DELETE', path: `/v1/images/${mid}${moved ? '?moved=true' : ''}`, timeoutMs: timeouts.shortMs }),
    carryCheck: (req) => json({ method: 'POST', path: '/v1/carry-check', json: req, timeoutMs: timeouts.shortMs }),
    pruneStages: (req) => json({ method: 'POST', path: '/v1/carry-staging/prune', json: req, timeoutMs: timeouts.shortMs }),
    cpuCheck: (req) => none({ method: 'POST', path: '/v1/cpu-check', json: req, timeoutMs: timeouts.shortMs }),
    inspect: (id, q = {}) => json({ method: 'GET', path: `/v1/procs/${id}/blockers?${query(q)}`, timeoutMs: timeouts.shortMs }),
    lazyStatus: (mid, waitMs = 0) => json({ method: 'GET', path: `/v1/images/${mid}/lazy?${query({ waitMs })}`, timeoutMs: timeouts.shortMs + waitMs }),
    keptAppend: (id, q, frames) =>
      json({ method: 'POST', path: `/v1/kept/${id}?${query(q)}`, raw: frames, timeoutMs: timeouts.shortMs }),
    keptRead: (id, q) => json({ method: 'GET', path: `/v1/kept/${id}?${query(q)}`, timeoutMs: timeouts.shortMs }),
    checkpoint: (id, req) => json({ method: 'POST', path: `/v1/procs/${id}/checkpoint`, json: req, timeoutMs: timeouts.longMs }),
    stageCheckpoint: (req) => json({ method: 'POST', path: '/v1/checkpoints/stage', json: req, timeoutMs: timeouts.longMs }),
    fileSizes: (req) => json({ method: 'POST', path: '/v1/file-sizes', json: req, timeoutMs: timeouts.shortMs }),
    control: (id, update) => none({ method: 'PUT', path: `/v1/procs/${id}/control`, json: update, timeoutMs: timeouts.shortMs }),
  };
}

function query(q: object): string {
  const defined = Object.entries(q).filter(([, v]) => v !== undefined && v !== null);
  return new URLSearchParams(defined.map(([k, v]): [string, string] => [k, String(v)])).toString();
}

function describeCause(err: unknown): string {
  // fetch's own errors wrap the socket's; a TLS refusal comes as it is
  const cause = (err as { cause?: { code?: string; message?: string } }).cause ?? (err as { code?: string; message?: string });
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return (err as Error).message;
}
