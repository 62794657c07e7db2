// bench/nlu/nlpjs.mjs: the NLP.js (node-nlp) side of the intent-model
// comparison.  Trains an NlpManager on a train split (TSV with text and
// intent columns), classifies the dev split and prints one JSON object with
// the same figures kefu's bench prints: accuracy (out of scope counts as a
// class: NLP.js's "None", or the label "oos", is out of scope), macro-F1
// over the in-scope intents, out-of-scope precision and recall, the
// fraction of in-scope questions turned down, training time and
// classifications per second.  NLP.js is scored at its own default
// threshold (0.5: below it the intent is "None") and with no threshold.
//
// usage: node nlpjs.mjs LANG TRAIN.tsv DEV.tsv [NAME]   (LANG: en or zh)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { NlpManager } = require('node-nlp');

// Read a TSV file whose header names the text and intent columns.
function readTsv(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const head = lines[0].split('\t');
  const ct = head.indexOf('text');
  const ci = head.indexOf('intent');
  const rows = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const f = line.split('\t');
    rows.push({ text: f[ct], intent: f[ci] === '' ? 'oos' : f[ci] });
  }
  return rows;
}

// The figures for predictions (null: out of scope) against gold labels.
function score(gold, pred) {
  let correct = 0, inscope = 0, okIn = 0, rejected = 0;
  let noos = 0, oosTp = 0, oosPred = 0;
  const tp = new Map(), fp = new Map(), n = new Map();
  for (let i = 0; i < gold.length; i++) {
    const g = gold[i] === 'oos' ? null : gold[i];
    const p = pred[i];
    if (g === p) correct++;
    if (g === null) {
      noos++;
      if (p === null) oosTp++;
    } else {
      inscope++;
      n.set(g, (n.get(g) || 0) + 1);
      if (p === g) okIn++;
      if (p === null) rejected++;
    }
    if (p === null) oosPred++;
    if (p !== null && p === g) tp.set(p, (tp.get(p) || 0) + 1);
    if (p !== null && p !== g) fp.set(p, (fp.get(p) || 0) + 1);
  }
  let f1 = 0;
  for (const [g, cnt] of n) {
    const t = tp.get(g) || 0;
    const prec = t + (fp.get(g) || 0) === 0 ? 0 : t / (t + (fp.get(g) || 0));
    const rec = t / cnt;
    f1 += prec + rec === 0 ? 0 : (2 * prec * rec) / (prec + rec);
  }
  return {
    accuracy: correct / gold.length,
    macro_f1: n.size ? f1 / n.size : 0,
    inscope_accuracy: inscope ? okIn / inscope : 0,
    inscope_rejected: inscope ? rejected / inscope : 0,
    oos_precision: noos ? (oosPred ? oosTp / oosPred : 0) : null,
    oos_recall: noos ? oosTp / noos : null,
  };
}

async function main() {
  const [lang, trainPath, devPath, name] = process.argv.slice(2);
  const train = readTsv(trainPath);
  const dev = readTsv(devPath);
  const manager = new NlpManager({
    languages: [lang],
    forceNER: false,
    autoSave: false,
    autoLoad: false,
    nlu: { log: false },
  });
  for (const r of train) manager.addDocument(lang, r.text, r.intent);
  let t0 = process.hrtime.bigint();
  await manager.train();
  const trainSecs = Number(process.hrtime.bigint() - t0) / 1e9;

  const top = [], scores = [];
  t0 = process.hrtime.bigint();
  for (const r of dev) {
    // Ask for the raw classification; the threshold is applied below.
    const out = await manager.process(lang, r.text);
    const c = out.classifications && out.classifications.length > 0 ?
      out.classifications[0] : { intent: out.intent, score: out.score };
    top.push(c.intent);
    scores.push(c.score);
  }
  const classifySecs = Number(process.hrtime.bigint() - t0) / 1e9;
  const gold = dev.map((r) => r.intent);
  const at = (thr) => top.map((t, i) =>
    t === 'None' || t === 'oos' || scores[i] < thr ? null : t);
  const rss = process.memoryUsage().rss;
  console.log(JSON.stringify({
    set: name || devPath,
    library: 'node-nlp ' + require('node-nlp/package.json').version,
    train: train.length,
    dev: dev.length,
    train_seconds: trainSecs,
    classifications_per_second: dev.length / classifySecs,
    rss_mb: rss / (1024 * 1024),
    default_threshold: score(gold, at(0.5)),
    no_threshold: score(gold, at(0)),
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
