/**
 * The process's own control directory (MOSIX's /proc/self files): what its agent and the
 * orchestrator say to each other about it. A program writes a request into one of the request
 * files; the agent that watches the directory sends it to the orchestrator as a ControlRequest,
 * and the orchestrator answers with a ControlUpdate to the agent where the program runs then.
 */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';
import { NAME_MAX } from './limits.js';

/**
 * The files a program writes requests into, each the name of its kind. A new kind is one entry
 * here (and its handler in the orchestrator's control.ts).
 */
export const CONTROL_KINDS = ['migrate', 'lock', 'needmem', 'checkpoint'] as const;
export const ControlKind = Type.Enum(CONTROL_KINDS);
export type ControlKind = Static<typeof ControlKind>;

/**
 * The file system type of the keepers' view of a program's control directory
 * (agent/keeper/controlfs.h: "fuse." CONTROLFS_SUBTYPE)
 */
export const CONTROL_MOUNT_TYPE = 'fuse.godwit-control';

/** the longest request the agent reads from a file */
export const CONTROL_VALUE_MAX = 256;

/** agent -> orchestrator (POST /v1/agents/control, with the node's token) */
export const ControlRequest = Closed({
  processId: Type.Integer(),
  kind: ControlKind,
  value: Type.String({ maxLength: CONTROL_VALUE_MAX }),
});
export type ControlRequest = Static<typeof ControlRequest>;

/** what the files read back, besides whereami (the node whose agent writes them) */
export const ControlState = Closed({
  nmigs: Type.Integer(),
  locked: Type.Boolean(),
  needMemBytes: Type.Integer(),
  /** checkpoints taken so far: `checkpoint` reads back the number of the last one */
  checkpoints: Type.Integer(),
});
export type ControlState = Static<typeof ControlState>;

/**
 * orchestrator -> agent where the program runs (PUT /v1/procs/ID/control): the state to show
 * and, after a request, its answer: done, or refused with an error. (No null here: Fastify's
 * validator would coerce it into an empty string.)
 */
export const ControlUpdate = Closed({
  state: ControlState,
  answer: Type.Optional(Closed({ kind: ControlKind, error: Type.Optional(Type.String({ minLength: 1, maxLength: NAME_MAX })) })),
});
export type ControlUpdate = Static<typeof ControlUpdate>;
