/**
 * MOSIX's node numbers, the one numbering every command uses: a node's place in the
 * orchestrator's node list (its configuration's order), counted from 1, as `mossetpe -r` lists
 * them. Here too a number, a name or an address becomes a node, and an unknown one an error
 * naming the nodes there are.
 */
import { GodwitError, type Node } from '@godwit/schemas';
import { didYouMean } from './suggest.js';

export interface NumberedNode {
  /** MOSIX's logical node number, from 1 */
  number: number;
  name: string;
  /** the host address its agent serves on */
  address: string;
  node: Node;
}

/** The address in a node's agent URL (its host), or the URL itself if it is none. */
export function nodeAddress(n: Node): string {
  try {
    return new URL(n.url).hostname;
  } catch (err) {
    // not a URL (a node configured by another name for its agent): shown as it is
    if (!(err instanceof TypeError)) throw err;
    return n.url;
  }
}

export function numberNodes(nodes: readonly Node[]): NumberedNode[] {
  return nodes.map((node, i) => ({ number: i + 1, name: node.name, address: nodeAddress(node), node }));
}

/** The node `spec` names: its number, its name or its address; undefined if none does. */
export function findNode(nodes: readonly Node[], spec: string): NumberedNode | undefined {
  const numbered = numberNodes(nodes);
  if (/^[0-9]+$/.test(spec)) return numbered.find((n) => n.number === Number(spec));
  return numbered.find((n) => n.name === spec || n.address === spec);
}

/** "1 node0 (10.77.1.10), 2 node1 (10.77.1.11)" */
export function listNodes(nodes: readonly Node[]): string {
  return numberNodes(nodes).map((n) => `${n.number} ${n.name} (${n.address})`).join(', ');
}

/**
 * The node `spec` names, or GODWIT_ERR_NODE_NOT_FOUND saying which nodes there are and what it
 * may have been meant as (`words`: the other things the argument may be, such as verbs).
 */
export function resolveNode(nodes: readonly Node[], spec: string, words: readonly string[] = []): NumberedNode {
  const found = findNode(nodes, spec);
  if (found) return found;
  const near = didYouMean(spec, [...words, ...nodes.map((n) => n.name), ...numberNodes(nodes).map((n) => n.address)]);
  const also = words.length ? `; or one of: ${words.join(', ')}` : '';
  throw new GodwitError('GODWIT_ERR_NODE_NOT_FOUND', `no node ${spec}${near}; the nodes are (number, name, address): ${listNodes(nodes)}${also}`);
}

/** The name of the node `spec` names (number, name or address), from the cluster's list. */
export async function nodeNamed(client: { listNodes(): Promise<Node[]> }, spec: string, words: readonly string[] = []): Promise<string> {
  return resolveNode(await client.listNodes(), spec, words).name;
}
