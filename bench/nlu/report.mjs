// bench/nlu/report.mjs: print bench/nlu/run's JSON lines (one per library
// and data set) as a Markdown table, kefu beside NLP.js; other lines (NLP.js
// prints "Compiling dictionary" for Chinese) are skipped.
//
// usage: node report.mjs RESULTS.jsonl
import { readFileSync } from 'node:fs';

const rows = readFileSync(process.argv[2], 'utf8').split('\n')
  .filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const pct = (x) => (x === null || x === undefined ? '-' :
  (100 * x).toFixed(1));
const num = (x, d) => (x === null || x === undefined ? '-' : x.toFixed(d));

console.log('| set | library | accuracy | macro-F1 | in-scope acc. | ' +
  'in-scope turned down | oos precision | oos recall | accuracy, no ' +
  'threshold | train s | classifications/s | memory MB |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const set of [...new Set(rows.map((r) => r.set))]) {
  for (const r of rows.filter((x) => x.set === set)) {
    const d = r.default_threshold;
    const lib = r.library === 'kefu' ?
      `kefu (min_confidence ${r.min_confidence})` :
      `${r.library} (threshold 0.5)`;
    const mem = r.library === 'kefu' ?
      `${num(r.model_mb, 1)} model, +${num(r.rss_growth_mb, 1)} RSS` :
      `${num(r.rss_mb, 0)} RSS (process)`;
    console.log(`| ${set} | ${lib} | ${pct(d.accuracy)} | ` +
      `${pct(d.macro_f1)} | ${pct(d.inscope_accuracy)} | ` +
      `${pct(d.inscope_rejected)} | ${pct(d.oos_precision)} | ` +
      `${pct(d.oos_recall)} | ${pct(r.no_threshold.accuracy)} | ` +
      `${num(r.train_seconds, 2)} | ` +
      `${Math.round(r.classifications_per_second)} | ${mem} |`);
  }
}
