'use strict'
// Heap snapshot capture: how long the JS thread is blocked, shield.heapSnapshot()
// (v8.getHeapSnapshot() Buffers, or with SHIELD_HEAP_SNAPSHOT_VIA=inspector the
// inspector's chunks, handed to the Rust writer thread) against v8.writeHeapSnapshot()
// (synchronous, written by V8 on the JS thread) — the floor a user has today.
// Heaps of about 50 MB and 300 MB; every measurement in a fresh process, in
// alternating rounds. Blocking = the longest stall a 1 ms ticker sees plus the
// time the call itself holds the thread. Run: node benches/capture.js [rounds] [MB...]

const path = require('node:path')
const fs = require('node:fs')
const os = require('node:os')
const { spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const rounds = Number(process.argv[2] || 3)
const sizes = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [50, 300]
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shield-capture-bench-'))

const CHILD = `
const v8 = require('node:v8')
const path = require('node:path')
const [mode, mb, dir] = [process.argv[2], Number(process.argv[3]), process.argv[4]]
// A heap of about mb MB: objects with strings and arrays, linked.
const keep = []
globalThis.keep = keep
let prev = null
while (v8.getHeapStatistics().used_heap_size < mb * 1048576) {
  for (let i = 0; i < 10000; i++) {
    const o = { id: keep.length, name: 'item-' + keep.length + '-' + (keep.length % 977), tags: [keep.length % 13, keep.length % 7], prev }
    prev = i % 50 === 0 ? null : o
    keep.push(o)
  }
}
const heapMB = v8.getHeapStatistics().used_heap_size / 1048576
let maxGap = 0
let last = performance.now()
const tick = setInterval(() => { const now = performance.now(); maxGap = Math.max(maxGap, now - last); last = now }, 1)
setTimeout(async () => {
  last = performance.now()
  maxGap = 0
  const t0 = performance.now()
  let file, held
  if (mode === 'v8') {
    file = v8.writeHeapSnapshot(path.join(dir, 'v8-' + process.pid + '.heapsnapshot'))
    held = performance.now() - t0
  } else {
    if (mode === 'shield-inspector') process.env.SHIELD_HEAP_SNAPSHOT_VIA = 'inspector'
    const shield = require(${JSON.stringify(root)})
    shield.start({ logsPath: dir, maxDiskBytes: '100GB', heapSnapshotMargin: 0 })
    const p = shield.heapSnapshot()
    held = performance.now() - t0 // the synchronous part of the call
    file = (await p).path
    shield.stop()
  }
  const total = performance.now() - t0
  // Let the ticker see the stall that just ended.
  await new Promise((r) => setTimeout(r, 20))
  clearInterval(tick)
  const bytes = require('node:fs').statSync(file).size
  require('node:fs').unlinkSync(file)
  try { require('node:fs').unlinkSync(file + '.json') } catch {}
  console.log(JSON.stringify({ heapMB, blockedMs: Math.max(maxGap, held), totalMs: total, fileMB: bytes / 1048576, rssMB: process.resourceUsage().maxRSS / 1024 }))
  process.exit(0)
}, 200)
`
const childFile = path.join(dir, 'child.js')
fs.writeFileSync(childFile, CHILD)

function run(mode, mb) {
  const r = spawnSync(process.execPath, ['--max-old-space-size=4096', childFile, mode, String(mb), dir], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${mode} ${mb} MB failed: ${r.stderr.slice(-800)}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
console.log(`node ${process.version}, ${os.cpus().length} cpus, rounds: ${rounds}`)
for (const mb of sizes) {
  const res = { shield: [], 'shield (inspector)': [], 'v8.writeHeapSnapshot': [] }
  for (let r = 0; r < rounds; r++) {
    res.shield.push(run('shield', mb))
    res['shield (inspector)'].push(run('shield-inspector', mb))
    res['v8.writeHeapSnapshot'].push(run('v8', mb))
  }
  const floor = median(res['v8.writeHeapSnapshot'].map((x) => x.blockedMs))
  console.log(`\nheap ≈ ${median(res.shield.map((x) => x.heapMB)).toFixed(0)} MB`)
  for (const [name, xs] of Object.entries(res)) {
    const b = median(xs.map((x) => x.blockedMs))
    console.log(
      `  ${name.padEnd(21)} blocked ${b.toFixed(0).padStart(6)} ms  (${(b / floor).toFixed(2)}x the floor)  done after ${median(xs.map((x) => x.totalMs)).toFixed(0).padStart(6)} ms  file ${median(xs.map((x) => x.fileMB)).toFixed(0)} MB  peak RSS ${median(xs.map((x) => x.rssMB)).toFixed(0)} MB`,
    )
  }
}
fs.rmSync(dir, { recursive: true, force: true })
