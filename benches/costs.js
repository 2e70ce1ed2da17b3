'use strict'
// What each of shield's recurring JS-thread jobs costs, measured one at a time
// with many repetitions (end-to-end HTTP ratios on a shared 2-core machine are
// noisier than the effect). Reports main-thread CPU per event; multiply by the
// event rates of your app (benches/overhead.js prints them for a hello-world).
// Usage: node benches/costs.js
const { spawnSync } = require('node:child_process')

function child(code) {
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', cwd: __dirname + '/..' })
  if (r.status !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout)
}

// Main-thread CPU only (/proc/self/task/<pid>/stat), so shield's own threads do not count here.
const mainCpu = `function mainCpuMs() {
  const f = require('fs').readFileSync('/proc/self/task/' + process.pid + '/stat', 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) * 10
}`

// 1. Heartbeat: an idle loop, 10 s, heartbeat every 1 ms vs no shield.
function heartbeat(on) {
  return child(`${mainCpu}
    ${on ? "require('.').start({ flushTime: 60, heartbeatInterval: 1 })" : ''}
    const t0 = mainCpuMs(); const w0 = Date.now()
    const keep = setInterval(() => {}, 1000)
    setTimeout(() => {
      clearInterval(keep)
      const s = ${on} ? require('.').flush() : null
      console.log(JSON.stringify({ cpuMs: mainCpuMs() - t0, wallMs: Date.now() - w0, beats: s ? s.eventLoop.lagSinceStart.count : 0 }))
    }, 8000)`)
}

// 2. GC accounting: the same allocation work with and without shield; per GC.
function gc(on) {
  return child(`${mainCpu}
    ${on ? "require('.').start({ flushTime: 1, heartbeatInterval: 1000 })" : ''}
    let gcs = 0
    new (require('perf_hooks').PerformanceObserver)((l) => { gcs += l.getEntries().length }).observe({ entryTypes: ['gc'] })
    const t0 = mainCpuMs()
    let n = 0
    function work() {
      for (let i = 0; i < 2000; i++) { const a = []; for (let j = 0; j < 200; j++) a.push({ j }) }
      if (++n < 400) setImmediate(work)
      else setTimeout(() => console.log(JSON.stringify({ cpuMs: mainCpuMs() - t0, gcs })), 50)
    }
    work()`)
}

// 3. One flush (V8 reads + native snapshot + 'usage' event), timed directly.
function flush() {
  return child(`
    const s = require('.')
    s.start({ flushTime: 60 })
    for (let i = 0; i < 200; i++) s.flush()
    const t = process.hrtime.bigint()
    for (let i = 0; i < 2000; i++) s.flush()
    console.log(JSON.stringify({ usPerFlush: Number(process.hrtime.bigint() - t) / 2000 / 1000 }))`)
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rounds = 3
const hb = { on: [], off: [] }
const g = { on: [], off: [] }
let beats = 0
let gcs = 0
for (let r = 0; r < rounds; r++) {
  const a = heartbeat(true)
  const b = heartbeat(false)
  hb.on.push(a.cpuMs)
  hb.off.push(b.cpuMs)
  beats = a.beats
  const c = gc(true)
  const d = gc(false)
  g.on.push(c.cpuMs)
  g.off.push(d.cpuMs)
  gcs = c.gcs
}
const perBeatUs = ((median(hb.on) - median(hb.off)) * 1000) / beats
const perGcUs = ((median(g.on) - median(g.off)) * 1000) / gcs
const { usPerFlush } = flush()
console.log(`main-thread CPU per event (Node ${process.version}, ${rounds} rounds, medians):`)
console.log(`  heartbeat       ${perBeatUs.toFixed(1)} µs per beat   (${beats} beats; at the default 10 ms: ${(perBeatUs * 100 / 1e4).toFixed(3)} % of one core)`)
console.log(`  GC accounting   ${perGcUs.toFixed(1)} µs per GC     (${gcs} GCs; observer batch + native record; gcHeapStats off)`)
console.log(`  flush           ${usPerFlush.toFixed(0)} µs per flush  (at the default 3 s: ${(usPerFlush / 3e6 * 100).toFixed(4)} %)`)
