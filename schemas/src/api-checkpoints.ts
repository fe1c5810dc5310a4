/** Checkpoints in the public API: asking for them, what they hold, recovering from them (MOSIX mosrun -C/-R/-I, mosmigrate checkpoint). */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';
import { FILE_PATH_MAX, LIST_MAX } from './limits.js';
import { NodeName } from './api-nodes.js';
import { ATTACHED_DESCRIPTION } from './api-output.js';

/**
 * A file a recovery opens on a user's behalf: absolute, and without control characters, which
 * no one means in a file name and which could split a list of them (a newline).
 */
export const RecoveryFilePath = Type.String({ pattern: '^/[^\\x00-\\x1f\\x7f]*$', maxLength: FILE_PATH_MAX, description: 'an absolute path without control characters' });

/** MOSIX mosrun -C FILE -N MAX -A MINUTES */
export const CheckpointPolicy = Closed({
  file: Type.String({
    minLength: 1,
    maxLength: FILE_PATH_MAX,
    description: "checkpoints go to FILE.1, FILE.2, ...: a name (or path) inside the user's checkpoint directory, or an absolute path there",
  }),
  max: Type.Optional(Type.Integer({ minimum: 1, description: 'extensions .1 to .MAX are used, then recycled oldest first' })),
  everyMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'take one automatically this often (fractions allowed)' })),
  compress: Type.Optional(Type.Boolean({ description: "LZ4-compress this program's checkpoints (or not); the cluster's compress.checkpoints when left out" })),
});
export type CheckpointPolicy = Static<typeof CheckpointPolicy>;

/** A regular file the checkpointed process had open, as its checkpoint recorded it. */
export const OpenFile = Closed({
  pid: Type.Integer({ description: 'PID inside the program’s namespace' }),
  fd: Type.Integer(),
  path: Type.String(),
  mode: Type.Union([Type.Literal('r'), Type.Literal('w'), Type.Literal('rw')]),
  append: Type.Boolean(),
  offset: Type.Integer(),
  size: Type.Integer({ description: 'its size at the checkpoint' }),
  saved: Type.Boolean({ description: 'its content is in the checkpoint (a file of its working directory open for writing), and comes back with a recovery' }),
  carried: Type.Optional(Type.Boolean({ description: "a node-local file (the node's /tmp, /var/tmp...): stored with the checkpoint, and put back at its path on whichever node recovers it" })),
});
export type OpenFile = Static<typeof OpenFile>;

export const Checkpoint = Closed({
  id: Type.Integer(),
  processId: Type.Integer(),
  number: Type.Integer({ description: '1 for the first checkpoint of the process, and so on' }),
  path: Type.String({ description: 'the checkpoint file (FILE.N)' }),
  bytes: Type.Integer(),
  mac: Type.String({ description: "the file's id, hex: the SHA-256 of its sealed header (random per file, authenticated with the cluster key); a file with another is refused" }),
  takenAt: Type.Integer(),
  node: NodeName,
  stoppedMs: Type.Integer({ description: 'how long the process was stopped for it' }),
  frozenMs: Type.Integer({ deprecated: true, description: 'the old name of stoppedMs, kept for one version' }),
  files: Type.Array(OpenFile),
  plainBytes: Type.Integer({ description: 'what the file packs (images, files, manifest) before compression: bytes where it was not compressed' }),
  compressionRatio: Type.Number({ description: 'plainBytes / bytes, to two places: 1 for a checkpoint not compressed' }),
});
export type Checkpoint = Static<typeof Checkpoint>;

export const CheckpointRequest = Closed({
  then: Type.Optional(
    Type.Union([Type.Literal('run'), Type.Literal('stop'), Type.Literal('exit')], {
      description: "run on (checkpoint, the default), freeze it (checkstop), or end it (exit)",
    }),
  ),
  compress: Type.Optional(Type.Boolean({ description: "LZ4-compress this checkpoint (or not); the process's choice (mosrun --compress), else the cluster's compress.checkpoints, when left out" })),
});
export type CheckpointRequest = Static<typeof CheckpointRequest>;

/** MOSIX mosrun -R FILE [-O fd=file,...] */
export const RecoverRequest = Closed({
  file: Type.String({ minLength: 1, maxLength: FILE_PATH_MAX, description: 'the checkpoint file (FILE.N), named as for -C' }),
  node: Type.Optional(NodeName),
  homeNode: Type.Optional(NodeName),
  remap: Type.Optional(Type.Record(Type.String({ pattern: '^[0-9]+$' }), RecoveryFilePath, { maxProperties: LIST_MAX, description: 'fd → file to open instead of the one it had (MOSIX -O)' })),
  acceptChanged: Type.Optional(Type.Boolean({ description: 'go on although files it had open changed since the checkpoint' })),
  checkpoint: Type.Optional(CheckpointPolicy),
  recoverOnFailure: Type.Optional(Type.Boolean()),
  attached: Type.Optional(Type.Boolean({ description: ATTACHED_DESCRIPTION })),
});
export type RecoverRequest = Static<typeof RecoverRequest>;

/** MOSIX mosrun -I FILE: what a checkpoint holds, and how its files look now */
export const CheckpointInfo = Closed({
  path: Type.String(),
  processId: Type.Integer(),
  argv: Type.Array(Type.String()),
  cwd: Type.String(),
  takenAt: Type.Integer(),
  node: NodeName,
  bytes: Type.Integer({ description: "the checkpoint file's bytes" }),
  plainBytes: Type.Integer({ description: 'what it packs before compression' }),
  compressionRatio: Type.Number({ description: 'plainBytes / bytes: 1 where it was not compressed' }),
  // one closed object, not an intersection: closed parts of an intersection refuse each other's properties
  files: Type.Array(Closed({ ...OpenFile.properties, sizeNow: Type.Union([Type.Integer(), Type.Null()], { description: "null: it is gone, out of its owner's reach, or a symbolic link" }) })),
});
export type CheckpointInfo = Static<typeof CheckpointInfo>;
