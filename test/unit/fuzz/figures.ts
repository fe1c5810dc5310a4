/** What the fuzz suite sent and how it was answered, printed after each run. */
export class Figures {
  private readonly byStatus = new Map<number, number>();
  private readonly byCode = new Map<string, number>();
  requests = 0;

  count(status: number, code?: string): void {
    this.requests++;
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    if (code) this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
  }

  /** one line: requests, then each status (and error code) with its count */
  line(what: string, seed: number): string {
    const sorted = <K>(m: Map<K, number>) => [...m].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    const statuses = sorted(this.byStatus).map(([s, n]) => `${s}: ${n}`).join(', ');
    const codes = sorted(this.byCode).map(([c, n]) => `${c}: ${n}`).join(', ');
    return `fuzz ${what} (seed ${seed}): ${this.requests} requests; by status ${statuses}; errors ${codes || 'none'}`;
  }
}
