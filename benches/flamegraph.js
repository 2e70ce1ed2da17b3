'use strict'
// Flame graph rendering: shield (Rust: parse, fold, inferno, on the libuv pool)
// against the pipelines a user would otherwise run on a .cpuprofile:
//   - "js+inferno": a JS cpuprofile→folded converter (JSON.parse + walk, the
//     way the npm converters do it) piped into inferno's own CLI
//     (`cargo install inferno`), the fastest SVG renderer there is;
//   - "0x": `0x --visualize-cpu-profile` (HTML, not SVG), when installed.
// Profiles of about 5, 50 and 200 MB are generated under .bench/ (never committed).
// Each tool runs in its own process (time and peak RSS from /usr/bin/time),
// in alternating rounds. Run: node benches/flamegraph.js [rounds] [sizes MB...]
//
// Setup for the peers (once):
//   cargo install inferno@0.12.8 --locked --root .bench/inferno
//   mkdir -p .bench/peers && cd .bench/peers && echo '{"private":true}' > package.json && npm install 0x@6.0.0

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const dir = path.join(root, '.bench', 'flamegraph')
fs.mkdirSync(dir, { recursive: true })
const rounds = Number(process.argv[2] || 3)
const sizes = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [5, 50, 200]
const infernoBin = [path.join(root, '.bench', 'inferno', 'bin', 'inferno-flamegraph'), 'inferno-flamegraph'].find((p) => {
  try {
    execFileSync(p, ['--help'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})
const zeroX = path.join(root, '.bench', 'peers', 'node_modules', '.bin', '0x')
const has0x = fs.existsSync(zeroX)

// --- a deterministic synthetic profile of about `mb` MB ----------------------
function generate(file, mb) {
  let seed = 42
  const rnd = (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff
    return seed % n
  }
  const target = mb * 1024 * 1024
  // Half the bytes in nodes (about 190 bytes each), half in samples + timeDeltas.
  const nodeCount = Math.max(100, Math.floor(target / 2 / 190))
  const sampleCount = Math.max(1000, Math.floor(target / 2 / 12))
  const fd = fs.openSync(file, 'w')
  let buf = '{"nodes":['
  const flush = (force) => {
    if (force || buf.length > 1 << 20) {
      fs.writeSync(fd, buf)
      buf = ''
    }
  }
  const names = Array.from({ length: 5000 }, (_, i) => `fn${i.toString(36)}_${['handle', 'parse', 'render', 'query', 'encode', 'hash', 'route'][i % 7]}`)
  const files = Array.from({ length: 400 }, (_, i) => `file:///srv/app/${i % 3 ? 'lib' : 'node_modules/pkg' + (i % 17)}/module${i}.js`)
  // A tree like a real server's: most nodes extend a recent stack, some start
  // from a shallow one; depth stays within 10..90 frames.
  const children = Array.from({ length: nodeCount }, () => [])
  const depth = new Uint16Array(nodeCount)
  for (let i = 1; i < nodeCount; i++) {
    let p = rnd(4) === 0 ? rnd(i) : Math.max(0, i - 1 - rnd(Math.min(i, 30)))
    while (depth[p] >= 10 + rnd(80)) p = rnd(Math.min(i, 200))
    depth[i] = depth[p] + 1
    children[p].push(i + 1)
  }
  // An app has a finite set of functions: 20000 (name, file, line) frames, reused across call sites.
  const pool = Array.from({ length: 20000 }, () => {
    const f = rnd(files.length)
    return `{"functionName":"${names[rnd(names.length)]}","scriptId":"${f}","url":"${files[f]}","lineNumber":${rnd(2000)},"columnNumber":${rnd(80)}}`
  })
  for (let i = 0; i < nodeCount; i++) {
    const id = i + 1
    const cf = i === 0 ? '{"functionName":"(root)","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1}' : pool[rnd(pool.length)]
    buf += `${i ? ',' : ''}{"id":${id},"callFrame":${cf},"hitCount":${rnd(5)},"children":[${children[i].join(',')}]}`
    flush()
  }
  buf += `],"startTime":0,"endTime":${sampleCount * 1000},"samples":[`
  // Skewed like real load: a few hot stacks take most samples (Zipf-like), the rest spread thin.
  const hot = Array.from({ length: 2000 }, () => 2 + rnd(nodeCount - 1))
  for (let i = 0; i < sampleCount; i++) {
    const id = rnd(10) < 7 ? hot[Math.floor(hot.length * Math.pow(rnd(1e6) / 1e6, 3))] : 2 + rnd(nodeCount - 1)
    buf += `${i ? ',' : ''}${id}`
    flush()
  }
  buf += '],"timeDeltas":['
  for (let i = 0; i < sampleCount; i++) {
    buf += `${i ? ',' : ''}${900 + rnd(200)}`
    flush()
  }
  buf += ']}'
  flush(true)
  fs.closeSync(fd)
}

// The JS converter a user would write or install: whole-file JSON.parse, then a walk.
const CONVERTER = `
const fs = require('fs')
const p = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const byId = new Map(p.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of p.nodes) for (const c of n.children || []) parent.set(c, n.id)
const self = new Map()
for (const s of p.samples) self.set(s, (self.get(s) || 0) + 1)
const frame = (cf) => (cf.functionName || '(anonymous)') + (cf.url ? ' (' + cf.url.replace('file://', '') + ':' + (cf.lineNumber + 1) + ')' : '')
const stackOf = new Map()
const stack = (id) => {
  let s = stackOf.get(id)
  if (s !== undefined) return s
  const n = byId.get(id)
  const up = parent.get(id)
  const f = n.callFrame.functionName === '(root)' ? '' : frame(n.callFrame).replace(/;/g, ':')
  s = up === undefined ? f : (stack(up) ? (f ? stack(up) + ';' + f : stack(up)) : f)
  stackOf.set(id, s)
  return s
}
const out = fs.openSync(process.argv[3], 'w')
for (const [id, count] of self) {
  // Walk parents iteratively first so deep trees do not overflow the recursion.
  const chain = []
  for (let x = id; x !== undefined && !stackOf.has(x); x = parent.get(x)) chain.push(x)
  for (let i = chain.length - 1; i >= 0; i--) stack(chain[i])
  fs.writeSync(out, stack(id) + ' ' + count + '\\n')
}
fs.closeSync(out)
`
const converterFile = path.join(dir, 'convert.js')
fs.writeFileSync(converterFile, CONVERTER)

// Runs a command under /usr/bin/time: wall seconds and peak RSS (MB).
function timed(cmd, args, opts = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30, ...opts })
  const last = r.stderr.trim().split('\n').pop()
  const [secs, kb] = last.split(' ').map(Number)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.slice(-500)}`)
  const gap = /maxGapMs=([\d.]+)/.exec(r.stderr)
  return { s: secs, rssMB: kb / 1024, maxGapMs: gap ? Number(gap[1]) : undefined }
}

const SHIELD = `
const shield = require(${JSON.stringify(root)})
const lagMs = []
let last = performance.now()
const t = setInterval(() => { const now = performance.now(); lagMs.push(now - last); last = now }, 5)
shield.flamegraph(process.argv[2], { output: process.argv[3] }).then(() => {
  clearInterval(t)
  console.error('maxGapMs=' + Math.max(0, ...lagMs).toFixed(1))
})
`
const shieldFile = path.join(dir, 'shield-render.js')
fs.writeFileSync(shieldFile, SHIELD)

function runShield(file) {
  const r = timed(process.execPath, [shieldFile, file, path.join(dir, 'shield.svg')])
  return r
}

function runJsInferno(file) {
  const folded = path.join(dir, 'peer.folded')
  const a = timed(process.execPath, ['--max-old-space-size=16000', '--stack-size=65500', converterFile, file, folded])
  const svg = path.join(dir, 'peer.svg')
  const b = timed('/bin/sh', ['-c', `"${infernoBin}" "${folded}" > "${svg}"`])
  return { s: a.s + b.s, rssMB: Math.max(a.rssMB, b.rssMB), convertS: a.s, renderS: b.s }
}

function run0x(file) {
  const out = path.join(dir, '0x-out')
  fs.rmSync(out, { recursive: true, force: true })
  return timed(zeroX, ['--visualize-cpu-profile', file, '--output-dir', out, '--quiet'], { env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=16000' } })
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

console.log(`node ${process.version}, ${require('node:os').cpus().length} cpus; rounds: ${rounds}; peers: js+inferno ${infernoBin ? 'yes' : 'NO (install inferno)'}, 0x ${has0x ? 'yes' : 'no'}`)
for (const mb of sizes) {
  const file = path.join(dir, `synthetic-${mb}mb.cpuprofile`)
  if (!fs.existsSync(file)) generate(file, mb)
  const realMB = fs.statSync(file).size / 1048576
  const res = { shield: [], 'js+inferno': [], '0x': [] }
  for (let r = 0; r < rounds; r++) {
    res.shield.push(runShield(file))
    if (infernoBin) res['js+inferno'].push(runJsInferno(file))
    if (has0x) {
      try {
        res['0x'].push(run0x(file))
      } catch (err) {
        if (r === 0) console.log(`  0x failed on ${realMB.toFixed(0)} MB: ${err.message.split('\n')[0].slice(0, 200)}`)
      }
    }
  }
  console.log(`\n${realMB.toFixed(1)} MB cpuprofile`)
  const base = median(res.shield.map((x) => x.s))
  for (const [name, xs] of Object.entries(res)) {
    if (xs.length === 0) continue
    const s = median(xs.map((x) => x.s))
    const rss = median(xs.map((x) => x.rssMB))
    const gap = xs[0].maxGapMs !== undefined ? `  longest event-loop gap while rendering ${median(xs.map((x) => x.maxGapMs)).toFixed(0)} ms` : ''
    const extra = gap + (xs[0].convertS !== undefined ? ` (convert ${median(xs.map((x) => x.convertS)).toFixed(2)} s + inferno ${median(xs.map((x) => x.renderS)).toFixed(2)} s)` : '')
    console.log(`  ${name.padEnd(11)} ${s.toFixed(2).padStart(7)} s  peak RSS ${rss.toFixed(0).padStart(6)} MB  ${name === 'shield' ? '' : `shield is ${(s / base).toFixed(1)}x faster`}${extra}`)
  }
}
