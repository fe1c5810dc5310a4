/** Bounds the API puts on what it is given, as plain numbers: the CLI checks them without loading a schema. */

/** the longest path a file given for a recovery may have (Linux's PATH_MAX) */
export const FILE_PATH_MAX = 4096;
