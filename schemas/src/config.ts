/** Configuration files written by the set-up and read by each component at start. */
import Type, { type Static } from 'typebox';
import { Limits } from './api-limits.js';
import { IPV4_PATTERN } from './limits.js';

/** the fewest bytes a cluster key (AgentConfig.clusterKeyFile) holds */
export const CLUSTER_KEY_BYTES = 32;

export const PortRange = Type.Object({ first: Type.Integer({ minimum: 1, maximum: 65535 }), last: Type.Integer({ minimum: 1, maximum: 65535 }) });
export type PortRange = Static<typeof PortRange>;
/** AgentConfig.pageServerPorts when unset: next to the orchestrator's 7700 and the agents' 7701 */
export const DEFAULT_PAGE_SERVER_PORTS: PortRange = { first: 7710, last: 7799 };

/**
 * TLS of a component's connections: its certificate and key (PEM, the key 0600) and the cluster's
 * CA, which every peer's certificate must come from. `false` turns TLS off, explicitly: the
 * component then warns at start that its traffic, tokens and programs' memory included, is clear.
 */
export const TlsFiles = Type.Object({
  caFile: Type.String({ pattern: '^/' }),
  certFile: Type.String({ pattern: '^/' }),
  keyFile: Type.String({ pattern: '^/' }),
});
export type TlsFiles = Static<typeof TlsFiles>;
/**
 * The CN of the orchestrator's certificate; a node's certificate has the node's name. An agent
 * takes its node's token only from a connection that shows it (the orchestrator is its token's
 * only other holder), so no node may have this name.
 */
export const ORCHESTRATOR_CN = 'orchestrator';
export const TlsSetting = Type.Union([TlsFiles, Type.Literal(false)]);
export type TlsSetting = Static<typeof TlsSetting>;

export const AgentConfig = Type.Object({
  node: Type.String(),
  /** its certificate (CN: the node's name) serves its API and is its client certificate toward the orchestrator and other agents */
  tls: TlsSetting,
  /** address and port this agent listens on (its node's address) */
  listen: Type.Object({ host: Type.String(), port: Type.Integer() }),
  /** how the orchestrator and other agents reach it */
  url: Type.String(),
  token: Type.String({ minLength: 16 }),
  /**
   * the cluster key (32 random bytes or more, mode 0600, root's), the same on every node: it
   * seals (encrypts and authenticates) every checkpoint file, so none that someone else wrote is
   * restored, and none can be read off the disk
   */
  clusterKeyFile: Type.String({ pattern: '^/' }),
  /**
   * checkpoint files are encrypted with a key wrapped by the cluster key (default true); false
   * writes them in clear, still authenticated, and the agent warns at start
   */
  encryptAtRest: Type.Optional(Type.Boolean()),
  orchestrator: Type.Object({ url: Type.String() }),
  /** root of everything the agent writes: images, program directories, logs */
  dataDir: Type.String({ pattern: '^/' }),
  /**
   * where the agent mounts a tmpfs of its own (agent/src/run-dir.ts), kept while it restarts: a
   * lazy move's images are written there while the program is stopped, in a fraction of the time
   * a disk takes (agent/src/images.ts); without it, they go under dataDir
   */
  runDir: Type.Optional(Type.String({ pattern: '^/' })),
  /**
   * paths each program of this node sees as the node's own (a simulated node's /tmp, /var/tmp,
   * /run, local data): its keeper binds DIR/PATH at PATH in the program's mount namespace, and
   * CRIU is told they are external, so a program restored here finds this node's. Without it, the
   * programs see the machine's file system as it is.
   */
  nodeLocal: Type.Optional(Type.Object({
    dir: Type.String({ pattern: '^/' }),
    paths: Type.Array(Type.String({ pattern: '^/[^:]+$' })),
  })),
  criuPath: Type.String(),
  keeperPath: Type.String(),
  tiniPath: Type.String(),
  /**
   * the link on the cluster network on which programs with their own address (mosrun --ip) get a
   * macvlan of their own (default eth0): their peers reach them on that network's segment
   */
  programLink: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$' })),
  /**
   * control groups that hold this node's programs (its CPU and memory capacity): each program's
   * keeper joins them before it launches or restores the program. The agent itself, and the
   * dumps and transfers it runs, stay outside, as a kernel's migration work would.
   */
  cgroups: Type.Array(Type.String({ pattern: '^/sys/fs/cgroup/' })),
  /** CPUs this node may use (its cgroup quota in the simulated cluster, its cores elsewhere) */
  cpuCapacity: Type.Optional(Type.Number()),
  /**
   * FOR SIMULATION ONLY: CPU feature names (as /proc/cpuinfo's flags spell them, e.g. "avx2") this
   * agent reports as absent, so that a cluster on one machine has a node with a lesser CPU and
   * godwit's refusals to move a program there can be tried. The CPU itself still has them.
   */
  cpuFeatureMask: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9_]{1,64}$' }), { maxItems: 256 })),
  memLimitBytes: Type.Optional(Type.Integer()),
  /**
   * where checkpoints are written, the same directory on every node (shared storage across
   * machines): any node can recover a process from any checkpoint
   */
  checkpointDir: Type.String({ pattern: '^/' }),
  /**
   * root of the programs' control directories (GODWIT_CONTROL=<controlDir>/<process id>): the
   * same path on every node, on a file system mounted before any program starts; without it,
   * programs get none
   */
  controlDir: Type.Optional(Type.String({ pattern: '^/' })),
  /**
   * a Unix socket (made mode 0666) on which this node's users call the API without a token: the
   * kernel says who connected, and the agent passes each request on to the orchestrator as that
   * user's account (agent/src/local-socket.ts); without it, only tokens work
   */
  localSocket: Type.Optional(Type.String({ pattern: '^/' })),
  /**
   * output a program's keeper writes ahead of what the orchestrator has stored (default 256 KiB):
   * beyond it the program's writes block, as on a full pipe, so no node spools without bound. Also
   * the size of the keeper's output segments, each removed once stored: a program's output files
   * on the node it runs on stay within about two of it
   */
  outputSpoolBytes: Type.Optional(Type.Integer({ minimum: 4096 })),
  /** the largest request body (JSON) and websocket message this agent takes (defaults: DEFAULT_LIMITS) */
  limits: Type.Optional(Type.Partial(Type.Pick(Limits, ['bodyBytes', 'frameBytes']))),
  /**
   * the TCP ports CRIU's page servers listen on here, a move's destination (full copy) and a lazy
   * move's source (default 7710-7799): each takes one free port of the range for one move, so
   * firewalls between nodes open this range
   */
  pageServerPorts: Type.Optional(PortRange),
  /**
   * paths every node sees alike (NFS, the same checkout, GODWIT_HOME, /home): a program's files
   * under them stay where they are when it moves; files elsewhere (/tmp, a local disk) are
   * node-local, and carried. One that lies under a nodeLocal path is bound back into the programs'
   * view of it.
   */
  sharedPaths: Type.Optional(Type.Array(Type.String({ pattern: '^/[^:]+$' }))),
  /** how many bytes of node-local files a move may carry (default 256 MiB); a move may ask for more */
  carry: Type.Optional(Type.Object({ maxBytes: Type.Integer({ minimum: 0 }) })),
});
export type AgentConfig = Static<typeof AgentConfig>;

export const OrchestratorConfig = Type.Object({
  listen: Type.Object({ host: Type.String(), port: Type.Integer() }),
  /** its certificate serves the API and is its client certificate toward the agents */
  tls: TlsSetting,
  dataDir: Type.String({ pattern: '^/' }),
  /** bearer tokens of people and schedulers, and whose they are */
  users: Type.Array(
    Type.Object({
      name: Type.String(),
      token: Type.String({ minLength: 16 }),
      admin: Type.Optional(Type.Boolean()),
      /** the Unix account the user's programs run as on every node (default: the user's name) */
      account: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$', maxLength: 64 })),
    }),
  ),
  nodes: Type.Array(Type.Object({ name: Type.String(), url: Type.String(), token: Type.String({ minLength: 16 }) })),
  /** ms without a report before a node counts as offline */
  nodeTimeoutMs: Type.Optional(Type.Integer()),
  outputLimitBytes: Type.Optional(Type.Integer({ description: 'kept output per process before rotating' })),
  /** the agents' checkpointDir: users name checkpoint files inside CHECKPOINTDIR/USER/ */
  checkpointDir: Type.String({ pattern: '^/' }),
  /** ms without a report before the processes of a node count as lost (and are recovered) */
  nodeLostMs: Type.Optional(Type.Integer()),
  /** what one user or caller may consume; each one left out is DEFAULT_LIMITS' */
  limits: Type.Optional(Type.Partial(Limits)),
  /**
   * LZ4 compression before the seal: of checkpoints (default true), and of the images a move
   * sends between nodes (default false; a move may ask otherwise with `compress`)
   */
  compress: Type.Optional(Type.Object({ checkpoints: Type.Optional(Type.Boolean()), moves: Type.Optional(Type.Boolean()) })),
  /**
   * programs' own addresses (mosrun --ip): `first`..`last` on the cluster network (/prefixLength,
   * reached through gateway), never the nodes' own; each given to one live process at a time.
   * default: whether a program gets one when its request does not say (default false)
   */
  addresses: Type.Optional(Type.Object({
    first: Type.String({ pattern: IPV4_PATTERN }),
    last: Type.String({ pattern: IPV4_PATTERN }),
    prefixLength: Type.Integer({ minimum: 1, maximum: 32 }),
    gateway: Type.Optional(Type.String({ pattern: IPV4_PATTERN })),
    default: Type.Optional(Type.Boolean()),
  })),
});
export type OrchestratorConfig = Static<typeof OrchestratorConfig>;

/** What the CLI reads: written by `godwit cluster up` (mode 0600) or by an administrator. */
export const ClientConfig = Type.Object({
  url: Type.String({ description: "the orchestrator's API, e.g. https://10.77.0.1:7700" }),
  token: Type.String({ description: "the user's bearer token: whoever holds it acts as the user" }),
  user: Type.String({ description: 'the godwit user the token belongs to' }),
  homeNode: Type.String({ description: "the node the user's programs start on unless told (MOSIX's home)" }),
  ca: Type.Optional(Type.String({ description: "the cluster's CA (PEM, or the path of a PEM file) the orchestrator's certificate must come from, for an https url" })),
});
export type ClientConfig = Static<typeof ClientConfig>;
