/**
 * `npm run bench [name ...]`: runs every `*.bench.js` beside this file (or those whose
 * name contains one of the arguments) and prints one JSON object per line. Each bench
 * measures ours against its baseline in the same process, so the ratio holds on any machine.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchRow {
  name: string;
  /** ours / baseline, where the bench has a baseline: below 1 is better for times, above 1 for throughput. */
  ratio?: number;
  [figure: string]: unknown;
}

export type Report = (row: BenchRow) => void;

/** The shape every bench module exports. */
export interface BenchModule {
  run(report: Report): Promise<void>;
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.js'))
    .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
    .sort();
  const report: Report = (row) => process.stdout.write(JSON.stringify(row) + '\n');
  for (const file of files) {
    const bench = (await import(join(__dirname, file))) as BenchModule;
    await bench.run(report);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
