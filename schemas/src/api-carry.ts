/**
 * The files a program uses, as a move's pre-flight sees them (agent/src/tree-files.ts), and what a
 * move would do with each: those on shared paths stay, node-local ones are carried, deleted ones
 * go inside the images as CRIU ghost files.
 */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';
import { FILE_PATH_MAX, LIST_MAX, TEXT_MAX } from './limits.js';

/** what carry.maxBytes is when the configuration leaves it out */
export const DEFAULT_CARRY_MAX_BYTES = 256 * 1024 * 1024;

export const UsedFileKind = Type.Union([
  Type.Literal('file'),
  Type.Literal('directory'),
  Type.Literal('mapped'),
  Type.Literal('unix-socket'),
  Type.Literal('fifo'),
  Type.Literal('deleted'),
]);
export type UsedFileKind = Static<typeof UsedFileKind>;

/** what a move does with a file: it stays (shared, or installed alike on every node), is carried, or goes as a ghost file */
export const FileFate = Type.Union([Type.Literal('stays'), Type.Literal('carried'), Type.Literal('ghost')]);
export type FileFate = Static<typeof FileFate>;

export const PlannedFile = Closed({
  path: Type.String({ maxLength: FILE_PATH_MAX }),
  kind: UsedFileKind,
  apparentBytes: Type.Integer({ description: 'its size as ls shows it' }),
  allocatedBytes: Type.Integer({ description: 'the blocks it takes: a sparse file counts these' }),
  fate: FileFate,
  why: Type.String({ maxLength: TEXT_MAX, description: 'why it stays or moves, in words' }),
});
export type PlannedFile = Static<typeof PlannedFile>;

export const CarryPlan = Closed({
  files: Type.Array(PlannedFile, { maxItems: LIST_MAX }),
  /** node-local and deleted files' allocated bytes: what a move would take along */
  carriedBytes: Type.Integer(),
  limitBytes: Type.Integer(),
  /** the largest deleted-but-open file's size: CRIU's --ghost-limit for the dump */
  ghostLimitBytes: Type.Integer(),
  /** why the move is refused for its files, in words; null when they fit */
  refusal: Type.Union([Type.String({ maxLength: TEXT_MAX }), Type.Null()]),
});
export type CarryPlan = Static<typeof CarryPlan>;

/**
 * A node-local file a move carries, as the program sees it; its size (and mode, where known) let
 * a destination holding a file at that path tell one that may be the same from a different one.
 */
export const CarriedPlace = Closed({
  path: Type.String({ pattern: '^/', maxLength: 4096 }),
  kind: UsedFileKind,
  bytes: Type.Optional(Type.Integer({ minimum: 0 })),
  mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o7777 })),
});
export type CarriedPlace = Static<typeof CarriedPlace>;
export const CarriedPlaces = Type.Array(CarriedPlace, { maxItems: 4096 });

/** The files a move would carry, for its destination to say whether their places are free (asked before the program stops). */
export const CarryCheckRequest = Closed({
  files: CarriedPlaces,
  /** the program's owner: a file of theirs already there with the same size and mode may be the very same */
  account: Type.Optional(Type.String({ maxLength: 256 })),
});
export type CarryCheckRequest = Static<typeof CarryCheckRequest>;
export const CarryCheckResult = Closed({
  /**
   * each place taken on the destination by a different file, in words naming it; empty when all
   * are free or hold what may be the same file (placing compares the bytes, and leaves the same one)
   */
  conflicts: Type.Array(Type.String({ maxLength: 8192 }), { maxItems: 4096 }),
});
export type CarryCheckResult = Static<typeof CarryCheckResult>;

/**
 * Sent to an agent as it comes online: the moves to it still in flight, whose stages of files sent
 * ahead stay; those of other moves up to upTo (the last migration the orchestrator knew) go.
 */
export const StagePruneRequest = Closed({
  keep: Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 4096 }),
  upTo: Type.Integer({ minimum: 0 }),
});
export type StagePruneRequest = Static<typeof StagePruneRequest>;
export const StagePruneResult = Closed({ removed: Type.Array(Type.Integer()) });
export type StagePruneResult = Static<typeof StagePruneResult>;
