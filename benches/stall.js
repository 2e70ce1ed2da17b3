'use strict'
// Stuck-loop detection and capture: how fast, and what it costs.
//  1. detection latency (threshold → the watchdog notices) and capture latency
//     (notice → the profiler samples the stuck loop), over 20 stalls;
//  2. steady-state cost on an HTTP hello-world (wrk, 127.0.0.1): no shield, shield
//     with stall detection, shield with stall capture (sentinel worker), alternating
//     rounds; RSS of each;
//  3. throughput after 20 captures against throughput before, in one process.
// Usage: node benches/stall.js [rounds] [seconds]
const { spawn, spawnSync } = require('node:child_process')
const path = require('node:path')
const http = require('node:http')

const rounds = Number(process.argv[2] || 3)
const seconds = Number(process.argv[3] || 4)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

if (process.argv[2] === '--server') return server(process.argv[3])

function server(mode) {
  if (mode !== 'baseline') {
    require('..').start({ flushTime: 1, stall: mode === 'capture' ? { threshold: '200ms' } : { threshold: '200ms', capture: false } })
  }
  const stalls = []
  if (mode !== 'baseline') require('..').on('stall', (e) => stalls.push(e))
  const srv = http.createServer((req, res) => {
    if (req.url.startsWith('/stall')) {
      const end = Date.now() + 400
      while (Date.now() < end);
      return res.end('stalled\n')
    }
    if (req.url === '/stats') {
      return res.end(JSON.stringify({ rss: process.memoryUsage.rss(), stalls: stalls.map((e) => ({ d: e.detectedAfterMs, c: e.captureLatencyMs, culprit: e.culprit && e.culprit.functionName })) }))
    }
    res.end('hello world\n')
  })
  srv.listen(0, '127.0.0.1', () => console.log(`ready ${srv.address().port}`))
}

function start(mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, '--server', mode], { stdio: ['ignore', 'pipe', 'inherit'] })
    child.stdout.once('data', (d) => {
      const m = /ready (\d+)/.exec(String(d))
      m ? resolve({ child, port: Number(m[1]) }) : reject(new Error(String(d)))
    })
  })
}

const get = (port, p) => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path: p }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => resolve(b)) }).on('error', reject))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function wrk(port) {
  const r = spawnSync('wrk', ['-t1', '-c32', `-d${seconds}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`wrk: ${r.stderr || r.error}`)
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)[1])
}

async function main() {
  // 1 + 3: one capture server, throughput before, 20 stalls, throughput after.
  const { child, port } = await start('capture')
  await sleep(500)
  wrk(port)
  const before = []
  const after = []
  for (let i = 0; i < rounds; i++) before.push(wrk(port))
  for (let i = 0; i < 20; i++) {
    await get(port, '/stall')
    await sleep(300)
  }
  for (let i = 0; i < rounds; i++) after.push(wrk(port))
  const stats = JSON.parse(await get(port, '/stats'))
  child.kill()
  const det = stats.stalls.map((s) => s.d - 200)
  const cap = stats.stalls.map((s) => s.c).filter((x) => x !== null)
  console.log(`\n20 stalls of 400 ms, threshold 200 ms (Node ${process.version}):`)
  console.log(`  detected ${stats.stalls.length}/20, culprit named in ${stats.stalls.filter((s) => s.culprit).length}`)
  console.log(`  detection latency after the threshold: median ${median(det).toFixed(1)} ms, max ${Math.max(...det).toFixed(1)} ms`)
  console.log(`  capture latency (detection → profiler sampling): median ${median(cap).toFixed(1)} ms, max ${Math.max(...cap).toFixed(1)} ms`)
  console.log(`  throughput after 20 captures / before: ${(median(after) / median(before)).toFixed(3)} (${median(before).toFixed(0)} → ${median(after).toFixed(0)} req/s)`)

  // 2: steady state, alternating rounds.
  const modes = ['baseline', 'detect', 'capture']
  const res = Object.fromEntries(modes.map((m) => [m, { rps: [], rss: [] }]))
  for (let r = 0; r < rounds; r++) {
    for (const mode of modes.map((_, i) => modes[(i + r) % modes.length])) {
      const { child, port } = await start(mode)
      await sleep(500)
      wrk(port)
      res[mode].rps.push(wrk(port))
      res[mode].rss.push(JSON.parse(await get(port, '/stats')).rss)
      child.kill()
    }
  }
  console.log(`\nsteady state, wrk -t1 -c32 -d${seconds}s, ${rounds} alternating rounds (medians):`)
  for (const mode of modes) {
    const rps = median(res[mode].rps)
    console.log(`  ${mode.padEnd(9)} ${rps.toFixed(0).padStart(7)} req/s  ${(rps / median(res.baseline.rps)).toFixed(3)} of baseline  RSS ${(median(res[mode].rss) / 1048576).toFixed(1)} MB`)
  }
  console.log(`  sentinel worker memory: ${((median(res.capture.rss) - median(res.detect.rss)) / 1048576).toFixed(1)} MB RSS`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
