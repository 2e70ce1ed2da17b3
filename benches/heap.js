'use strict'
// Heap snapshot analysis: time and peak RSS of shield vs the peers a user would
// otherwise pick, each in a fresh process, rounds alternated, same fixtures.
//   node benches/heap.js [--sizes 50,300] [--rounds 2]
// Fixtures (~50 MB + ~107 MB pair, ~300 MB, optional 1000 MB) are generated into
// .bench/heap/ (git-ignored) on first use. Peers:
//   - Chrome DevTools' heap snapshot worker (devDependency chrome-devtools-frontend),
//   - the v8-heap-parser crate (a tiny binary built in the OS temp dir, outside the repo;
//     it has no diff, so its "diff" is two summaries),
//   - memlab is not measured yet: @memlab/core 2.0.5 depends on puppeteer 24, whose install
//     step downloads a browser; its heap API alone (install scripts skipped) was not tried.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync, execFileSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const dir = path.join(root, '.bench', 'heap')
const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : dflt
}
const sizes = opt('--sizes', '50,300').split(',').map(Number)
const rounds = Number(opt('--rounds', '2'))

// ~570 bytes of snapshot per Session in this shape; calibrated on Node 20.
function makeFixture(file, mb) {
  if (fs.existsSync(file)) return
  fs.mkdirSync(dir, { recursive: true })
  const items = Math.round((mb * 1e6) / 570)
  const script = `
    const v8 = require('node:v8')
    class Session { constructor(i) { this.id = 'sess-' + i; this.user = { name: 'user' + i, roles: ['a', 'b'] }; this.data = JSON.stringify({ i, cart: [i, i + 1] }) } }
    const store = new Map()
    for (let i = 0; i < ${items}; i++) store.set(i, new Session(i))
    globalThis.store = store
    v8.writeHeapSnapshot(${JSON.stringify(file)})`
  execFileSync(process.execPath, ['--max-old-space-size=16000', '-e', script], { stdio: 'inherit' })
}

function v8hpBinary() {
  const d = path.join(os.tmpdir(), 'shield-v8hp')
  const bin = path.join(d, 'target', 'release', 'shield-v8hp')
  if (fs.existsSync(bin)) return bin
  fs.mkdirSync(path.join(d, 'src'), { recursive: true })
  fs.writeFileSync(
    path.join(d, 'Cargo.toml'),
    '[package]\nname = "shield-v8hp"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\nv8-heap-parser = "=1.1.0"\n\n[profile.release]\nlto = true\ncodegen-units = 1\n',
  )
  fs.writeFileSync(
    path.join(d, 'src', 'main.rs'),
    `fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    }).unwrap_or(0)
}
fn main() {
    let t = std::time::Instant::now();
    let mut classes = 0;
    for path in std::env::args().skip(1) {
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).expect("open"));
        let g = v8_heap_parser::decode_reader(f).expect("decode");
        classes += g.get_class_groups(false).len();
    }
    println!("{{\\"ms\\":{},\\"peakKb\\":{},\\"classes\\":{}}}", t.elapsed().as_secs_f64() * 1000.0, peak_kb(), classes);
}
`,
  )
  execFileSync('cargo', ['build', '--release', '--quiet'], { cwd: d, stdio: 'inherit' })
  return bin
}

// Node-side runner: measures inside a fresh process and prints {ms, peakKb}.
const nodeRunner = `
  const [kind, a, b] = process.argv.slice(1)
  const peak = () => Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1])
  ;(async () => {
    const t = performance.now()
    if (kind === 'shield') {
      const shield = require(${JSON.stringify(root)})
      b ? await shield.heapDiff(a, b) : await shield.heapSummary(a)
    } else {
      const dt = await import(${JSON.stringify(path.join(root, '__test__', 'devtools-heap.mjs'))})
      b ? await dt.diff(a, b) : await dt.summary(a)
    }
    console.log(JSON.stringify({ ms: performance.now() - t, peakKb: peak() }))
  })()`

function measure(peer, files) {
  let r
  if (peer === 'v8-heap-parser') r = spawnSync(v8hpBinary(), files, { encoding: 'utf8' })
  else r = spawnSync(process.execPath, ['--max-old-space-size=16000', '-e', nodeRunner, peer, ...files], { encoding: 'utf8' })
  if (r.status !== 0) return { error: (r.stderr || '').split('\n').slice(-3).join(' ') }
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const peers = ['shield', 'v8-heap-parser', 'devtools']
const results = []
function bench(label, files) {
  const bytes = files.reduce((s, f) => s + fs.statSync(f).size, 0)
  const acc = Object.fromEntries(peers.map((p) => [p, []]))
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...peers].reverse() : peers
    for (const p of order) acc[p].push(measure(p, files))
  }
  const best = (p) => {
    const ok = acc[p].filter((x) => !x.error)
    if (!ok.length) return { error: acc[p][0].error }
    return { ms: Math.min(...ok.map((x) => x.ms)), peakKb: Math.max(...ok.map((x) => x.peakKb)) }
  }
  const s = best('shield')
  console.log(`\n${label}: ${(bytes / 1e6).toFixed(0)} MB of snapshot`)
  for (const p of peers) {
    const b = best(p)
    if (b.error) {
      console.log(`  ${p.padEnd(15)} failed: ${b.error}`)
      continue
    }
    const ratio = p === 'shield' ? '' : `  shield is ${(b.ms / s.ms).toFixed(1)}x faster, ${(b.peakKb / s.peakKb).toFixed(1)}x less memory`
    console.log(`  ${p.padEnd(15)} ${(b.ms / 1000).toFixed(2).padStart(7)} s  peak RSS ${(b.peakKb / 1024).toFixed(0).padStart(6)} MB (${((b.peakKb * 1024) / bytes).toFixed(2)}x file)${ratio}`)
    results.push({ label, peer: p, ...b, bytes })
  }
}

const pairA = path.join(dir, 'pair-50.heapsnapshot')
const pairB = path.join(dir, 'pair-107.heapsnapshot')
if (sizes.includes(50)) {
  makeFixture(pairA, 50)
  makeFixture(pairB, 107)
  bench('summary ~50 MB', [pairA])
  bench('diff ~50 MB + ~107 MB', [pairA, pairB])
}
for (const mb of sizes.filter((m) => m !== 50)) {
  const f = path.join(dir, `single-${mb}.heapsnapshot`)
  makeFixture(f, mb)
  bench(`summary ~${mb} MB`, [f])
}
if (args.includes('--json')) console.log(JSON.stringify(results))
