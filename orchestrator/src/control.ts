/**
 * A program's requests through its control directory (agent/src/control.ts), acted on as its
 * owner would through the API; and what its control files show (nmigs, lock, needmem), kept up
 * to date on the node where it runs. The asking agent gets 202 at once: the answer goes, when
 * the request is done or refused, to the agent where the program runs then, with the state.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type ControlKind, ControlRequest, type ControlState, type ControlUpdate, GodwitError, toGodwitError } from '@godwit/schemas';
import type { Config } from './config.js';
import type { Ctx } from './context.js';
import type { Checkpointer } from './checkpoints.js';
import { parseCheckpoint, parseLock, parseNeedMem, parseTarget } from './control-values.js';
import type { ProcessRow } from './db/index.js';
import type { Migrator } from './migration/migrator.js';
import { agentAuth } from './nodes.js';

/** what each kind of request does; it throws why it is refused */
type Handler = (row: ProcessRow, value: string) => Promise<void>;

export interface Control {
  /** a request from the agent of node `from`, which must be where the process runs */
  request(from: string, req: ControlRequest): void;
  /** keeps the files of running processes up to date with their records from now on */
  start(): void;
}

const stateOf = (r: ProcessRow): ControlState => ({ nmigs: r.nmigs, locked: r.locked === 1, needMemBytes: r.need_mem_bytes, checkpoints: r.ckpt_count });

export function createControl(ctx: Ctx, migrator: Migrator, checkpointer: Checkpointer): Control {
  const { db, bus, log } = ctx;
  const handlers: Record<ControlKind, Handler> = {
    migrate: async (row, value) => {
      await migrator.migrate(row, parseTarget(value));
    },
    lock: async (row, value) => {
      db.q.setLocked.run({ id: row.id, locked: parseLock(value) ? 1 : 0 });
    },
    needmem: async (row, value) => {
      db.q.setNeedMem.run({ id: row.id, bytes: parseNeedMem(value) });
    },
    checkpoint: async (row, value) => {
      parseCheckpoint(value);
      await checkpointer.take(row, 'run');
    },
  };
  /** what each running process's files were last sent, so that a record's other changes send nothing */
  const shown = new Map<number, string>();

  async function show(id: number, answer?: ControlUpdate['answer']): Promise<void> {
    const row = db.q.processById.get(id);
    if (!row || row.state !== 'running') {
      shown.delete(id);
      return;
    }
    const state = stateOf(row);
    const key = JSON.stringify([row.node, row.epoch, state]);
    if (!answer && shown.get(id) === key) return;
    await ctx.agent(row.node).control(id, { state, ...(answer ? { answer } : {}) });
    shown.set(id, key);
  }

  const showLogged = (id: number, answer?: ControlUpdate['answer']) =>
    show(id, answer).catch((err: unknown) => log.warn({ err, process: id }, `could not update the control directory of process ${id}`));

  return {
    request(from, req) {
      const row = db.q.processById.get(req.processId);
      if (!row || row.node !== from || row.state !== 'running') {
        throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${req.processId} is not running on ${from}${row?.state === 'migrating' ? ' (it is migrating)' : ''}`);
      }
      db.event({ processId: row.id, node: from, kind: 'control', message: `process ${row.id} asked through its control directory: ${req.kind} ${req.value}` });
      void (async () => {
        let error: string | undefined;
        try {
          await handlers[req.kind](row, req.value);
        } catch (err) {
          error = toGodwitError(err).message;
        }
        await showLogged(row.id, { kind: req.kind, ...(error ? { error } : {}) });
      })();
    },
    start() {
      bus.on('process', (id) => void showLogged(id));
    },
  };
}

/** POST /v1/agents/control: agents hand their programs' requests over, with their node token. */
export function controlRoute(config: Config, control: Control): FastifyPluginAsync {
  const nodeOf = agentAuth(config);
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.post('/v1/agents/control', {
      schema: { hide: true, body: ControlRequest },
      preValidation: async (req, reply) => {
        if (!nodeOf(req)) {
          return reply.code(401).send(new GodwitError('GODWIT_ERR_UNAUTHORIZED', 'agents must send "Authorization: Bearer <node token>"').toBody());
        }
      },
    }, async (req, reply) => {
      control.request(nodeOf(req)!.name, req.body);
      return reply.code(202).send();
    });
  };
}
