/**
 * The import graph of the product code (issue 22): no cycle, types included, and the CLI, the
 * agent and the orchestrator reach one another only through schemas/ (they talk over HTTP).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parseCircular, parseDependencyTree } from 'dpdm';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PARTS = ['schemas', 'agent', 'orchestrator', 'cli'] as const;

describe('the import graph of the product code', function () {
  this.timeout(120_000);
  let tree: Awaited<ReturnType<typeof parseDependencyTree>>;

  before(async () => {
    tree = await parseDependencyTree(
      PARTS.map((p) => `${p}/src/**/*.{ts,tsx}`),
      { context: ROOT, tsconfig: path.join(ROOT, 'tsconfig.base.json'), transform: false, skipDynamicImports: false },
    );
  });

  it('has no cycle', () => {
    expect(Object.keys(tree).length, 'files read').to.be.greaterThan(150);
    expect(parseCircular(tree).map((c) => c.join(' > '))).to.deep.equal([]);
  });

  it('joins the parts only through schemas/', () => {
    const part = (file: string) => file.split('/')[0];
    const crossings = Object.entries(tree).flatMap(([file, deps]) =>
      (deps ?? [])
        .filter((d) => d.id !== null && PARTS.includes(part(d.id) as (typeof PARTS)[number]) && part(d.id) !== part(file) && part(d.id) !== 'schemas')
        .map((d) => `${file} imports ${d.id}`),
    );
    expect(crossings).to.deep.equal([]);
  });
});
