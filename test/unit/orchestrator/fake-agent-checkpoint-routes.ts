/**
 * The fake agent's routes of checkpoints: taking one into the cluster's checkpoint directory
 * (shared by the cluster's fake agents, as the real one is on a shared file system), staging one
 * as a recovery's images, and the sizes of files now. Paths, bodies and answers are the real
 * agent's (agent/src/routes.ts).
 */
import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  FileSizesRequest,
  type FileSizesResult,
  GodwitError,
  StageCheckpointRequest,
  type StageCheckpointResult,
  TakeCheckpointRequest,
  type TakeCheckpointResult,
} from '@godwit/schemas';
import { end, failWith, type FakeState, running } from './fake-agent-state.js';
import { Id } from './fake-agent-proc-routes.js';

export const CHECKPOINT_BYTES = 8192;

export const fakeCheckpointRoutes: FastifyPluginAsyncTypebox<{ state: FakeState }> = async (app, { state }) => {
  app.post('/v1/procs/:id/checkpoint', { schema: { params: Id, body: TakeCheckpointRequest } }, async (req): Promise<TakeCheckpointResult> => {
    const e = running(state, Number(req.params.id));
    failWith(state, 'checkpoint');
    // as the real agent: a file past maxBytes is not kept, and the one at its path stays
    if (req.body.maxBytes !== undefined && CHECKPOINT_BYTES > req.body.maxBytes) {
      throw new GodwitError('GODWIT_ERR_CHECKPOINT_QUOTA', `checkpoint ${req.body.path} passes ${req.body.maxBytes} bytes`, { maxBytes: req.body.maxBytes, bytes: CHECKPOINT_BYTES });
    }
    const takenAt = Date.now();
    const mac = createHash('sha256').update(`${req.body.path}@${takenAt}`).digest('hex');
    state.checkpointFiles.set(req.body.path, {
      processId: e.proc.id,
      inodes: e.proc.inodes,
      mac,
      argv: e.launch?.argv ?? [],
      cwd: e.launch?.cwd ?? '/',
      files: [],
    });
    // `exit`: the tree left stopped by the dump is killed once the file is safe
    if (req.body.then === 'exit') end(e, null, 'SIGKILL', false);
    return { bytes: CHECKPOINT_BYTES, plainBytes: CHECKPOINT_BYTES, mac, takenAt, stoppedMs: 4, files: [] };
  });

  app.post('/v1/checkpoints/stage', { schema: { body: StageCheckpointRequest } }, async (req): Promise<StageCheckpointResult> => {
    failWith(state, 'stage');
    const file = state.checkpointFiles.get(req.body.path);
    if (!file) throw new GodwitError('GODWIT_ERR_BAD_CHECKPOINT', `${state.name} finds no checkpoint file ${req.body.path}`);
    if (file.mac !== req.body.mac) {
      throw new GodwitError('GODWIT_ERR_BAD_CHECKPOINT', `checkpoint ${req.body.path} does not carry the MAC godwit recorded: it was changed or replaced`);
    }
    state.images.set(req.body.migrationId, { id: req.body.processId, epoch: 0, inodes: file.inodes });
    return { inodes: file.inodes, argv: file.argv, cwd: file.cwd, restoredFiles: [], substituted: Object.values(req.body.remap) };
  });

  app.post('/v1/file-sizes', { schema: { body: FileSizesRequest } }, async (req): Promise<FileSizesResult> => ({
    sizes: req.body.paths.map((p) => state.fileSizes.get(p) ?? null),
  }));
};
