/** Bounds the API puts on what it is given, as plain numbers: the CLI checks them without loading a schema. */

/** the longest path a file given for a recovery may have (Linux's PATH_MAX) */
export const FILE_PATH_MAX = 4096;

/** the longest single argument or environment value a program may be given (Linux's MAX_ARG_STRLEN) */
export const ARG_MAX = 131072;

/** the most arguments, or environment variables, a program may be given */
export const ARGS_MAX = 4096;

/** the longest name, token, URL or version string an API request or an agent's report may carry */
export const NAME_MAX = 1024;

/** the most items any other list in a request or report may hold (processes of a node, files of a checkpoint) */
export const LIST_MAX = 65536;

/** the most digits an id in a path or query may have: every such id is below 2^53, a number JavaScript holds exactly */
export const ID_DIGITS_MAX = 15;

/** the longest text in words an answer carries (a reason, with the lines of CRIU's log it quotes) */
export const TEXT_MAX = 65536;
/** a dotted IPv4 address (each part 0-255) */
export const IPV4_PATTERN = '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$';
