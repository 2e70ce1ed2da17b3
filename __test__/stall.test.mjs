import test from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import crypto from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { shield, busyWait, sleep, nextEvent, root } from './helpers.mjs'

const logsPath = mkdtempSync(join(tmpdir(), 'shield-stall-'))

test.afterEach(() => {
  shield.stop()
  shield.removeAllListeners()
})

// Four kinds of stall, each in a function of its own name.
function busyLoop(ms) {
  let x = 0
  const end = performance.now() + ms
  while (performance.now() < end) x += Math.sqrt(x + 1)
  return x
}
function catastrophicRegex(ms) {
  // (a+)+$ backtracks 2^n times on a string of n a's and a trailing b.
  const n = ms >= 1000 ? 24 : 23
  return /^(a+)+$/.test('a'.repeat(n) + 'b')
}
function hashPasswords(ms) {
  const salt = crypto.randomBytes(16)
  const end = performance.now() + ms
  let n = 0
  while (performance.now() < end) n += crypto.pbkdf2Sync('hunter2', salt, 2000, 32, 'sha256').length
  return n
}
const payload = JSON.stringify(Array.from({ length: 200000 }, (_, i) => ({ id: i, name: `user${i}`, tags: ['a', 'b'] })))
function countItems(list) {
  return list.length
}
function parseHugePayload(ms) {
  const end = performance.now() + ms
  let n = 0
  while (performance.now() < end) n += countItems(JSON.parse(payload))
  return n
}

const culprits = { busyLoop, catastrophicRegex, hashPasswords, parseHugePayload }

function renderInvoice(ms) {
  let x = 0
  const end = performance.now() + ms
  while (performance.now() < end) x += Math.sin(x + 1)
  return x
}

test('20 stalls from distinct functions: detected, with the culprit on the captured stack', async () => {
  const events = []
  shield.start({ flushTime: 60, logsPath, cooldown: 0, stall: { threshold: '200ms', interval: '5ms' } })
  shield.on('stall', (e) => events.push(e))
  await sleep(300) // the sentinel connects
  const durations = [300, 500, 800, 1100, 1500]
  const plan = []
  for (const ms of durations) for (const name of Object.keys(culprits)) plan.push([name, ms])
  for (const [name, ms] of plan) {
    const got = nextEvent('stall', 8000)
    culprits[name](ms)
    await got
    await sleep(30)
  }
  assert.equal(events.length, plan.length, 'every stall detected once')
  let attributed = 0
  const misses = []
  events.forEach((e, i) => {
    const [name] = plan[i]
    assert.ok(e.duration >= 200, `stall ${i} lasted ${e.duration} ms`)
    assert.equal(e.captured, true)
    const frames = [...(e.pausedStack || []), ...e.stacks.flatMap((s) => s.frames)]
    if (frames.some((f) => f.functionName === name)) attributed++
    else misses.push(`${name}: culprit ${e.culprit && e.culprit.functionName}`)
  })
  assert.ok(attributed >= 19, `${attributed}/20 attributed; misses: ${misses.join('; ')}`)
  const u = shield.flush()
  assert.equal(u.eventLoop.stalls, plan.length)
  const total = events.reduce((n, e) => n + e.duration, 0)
  assert.ok(Math.abs(u.eventLoop.stallMs - total) < 50, `${u.eventLoop.stallMs} vs ${total}`)
  assert.equal(u.eventLoop.stalled, false)
})

test('a stall event carries a profile, folded stacks and a private .json artifact', async () => {
  shield.start({ flushTime: 60, logsPath, stall: { threshold: '150ms', interval: '5ms' } })
  await sleep(300)
  const got = nextEvent('stall', 8000)
  // A function of its own: busyLoop is hot from the test above, and V8 (≥ 24) may
  // then credit an inlined function's samples to its caller in the profile.
  renderInvoice(500)
  const e = await got
  assert.equal(e.culprit.functionName, 'renderInvoice')
  assert.match(e.culprit.url, /stall\.test\.mjs$/)
  assert.ok(e.culprit.lineNumber > 0)
  // V8's profiler credits an inlined function's samples to its caller (the exact
  // pausedStack names it): the profile must hold the culprit or the frame that called it.
  const i = e.pausedStack.findIndex((f) => f.functionName === 'renderInvoice')
  assert.ok(i >= 0, JSON.stringify(e.pausedStack))
  const [culprit, caller] = [e.pausedStack[i], e.pausedStack[i + 1]]
  const seen = (f) => e.folded.some((l) => l.includes(`${f.functionName} (stall.test.mjs:`))
  assert.ok(seen(culprit) || seen(caller), e.folded.join('\n'))
  const saved = JSON.parse(readFileSync(e.path, 'utf8'))
  assert.equal(saved.stall.duration, e.duration)
  assert.equal(saved.stall.culprit.functionName, 'renderInvoice')
  assert.equal(statSync(e.path).mode & 0o777, 0o600)
  assert.equal(statSync(logsPath).mode & 0o777, 0o700)
  const profile = JSON.parse(readFileSync(e.profilePath, 'utf8'))
  assert.ok(Array.isArray(profile.nodes) && profile.samples.length > 10)
  assert.equal(statSync(e.profilePath).mode & 0o777, 0o600)
  const svg = readFileSync(e.flamegraphPath, 'utf8')
  assert.match(svg, /^<\?xml|^<svg/)
  assert.ok(svg.includes(seen(culprit) ? 'renderInvoice' : `${caller.functionName} (`), 'the flame graph shows what the profile holds')
})

test('a stall raises an emergency with the stall attached', async () => {
  const actions = []
  shield.start({ flushTime: 60, logsPath, cooldown: 0, stall: { threshold: '150ms' }, emergencyAction: (h, e) => actions.push(e) })
  await sleep(300)
  const got = nextEvent('emergency', 8000)
  busyLoop(400)
  const e = await got
  assert.equal(e.type, 'stall')
  assert.equal(e.stall.culprit.functionName, 'busyLoop')
  assert.equal(actions.length, 1)
})

test('blocked inside native code: reported as outside JavaScript, caller named', async () => {
  shield.start({ flushTime: 60, logsPath, stall: { threshold: '150ms' } })
  await sleep(300)
  const { execFileSync } = await import('node:child_process')
  function waitForChild() {
    execFileSync('sleep', ['0.6'])
  }
  const got = nextEvent('stall', 8000)
  waitForChild()
  const e = await got
  assert.ok(e.duration >= 500)
  assert.equal(e.outsideJs, true)
  assert.ok(e.pausedStack.some((f) => f.functionName === 'waitForChild'), JSON.stringify(e.pausedStack))
})

test('no false stall under normal HTTP load', async () => {
  shield.start({ flushTime: 60, logsPath, stall: { threshold: '200ms' } })
  const server = http.createServer((req, res) => res.end(JSON.stringify({ ok: true, t: Date.now() })))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address()
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  const get = () => new Promise((r) => http.get({ host: '127.0.0.1', port, agent }, (res) => res.resume().on('end', r)).on('error', r))
  let requests = 0
  const end = Date.now() + 3000
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (Date.now() < end) {
        await get()
        requests++
      }
    }),
  )
  server.close()
  agent.destroy()
  const u = shield.flush()
  assert.ok(requests > 500, `${requests} requests`)
  assert.equal(u.eventLoop.stalls, 0)
})

test('stalls are detected in a worker_thread being watched', async () => {
  const code = `
    const { parentPort } = require('node:worker_threads')
    const shield = require(${JSON.stringify(root)})
    shield.start({ flushTime: 60, logsPath: ${JSON.stringify(logsPath)}, stall: { threshold: '150ms' } })
    shield.on('stall', (e) => parentPort.postMessage({ duration: e.duration, captured: e.captured, stalls: shield.flush().eventLoop.stalls }))
    setTimeout(() => { const end = Date.now() + 400; while (Date.now() < end); }, 100)
    setTimeout(() => {}, 5000) // shield keeps nothing alive: the worker waits for its report`
  const w = new Worker(code, { eval: true, stderr: true })
  const msg = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no stall reported by the worker')), 8000)
    w.once('message', (m) => {
      clearTimeout(t)
      resolve(m)
    })
    w.once('error', reject)
  })
  await w.terminate()
  assert.ok(msg.duration >= 350, `${msg.duration}`)
  assert.equal(msg.stalls, 1)
  assert.equal(msg.captured, false, 'stacks are captured on the main thread only')
})

test('without capture, no sentinel: detection only', async () => {
  shield.start({ flushTime: 60, logsPath, stall: { threshold: '150ms', capture: false } })
  const got = nextEvent('stall', 5000)
  busyWait(300)
  const e = await got
  assert.equal(e.captured, false)
  assert.deepEqual(e.stacks, [])
  assert.ok(e.duration >= 250)
})

test('a 5 s stall: /metrics and /healthz answer during it, then the stall is reported', { timeout: 30_000 }, async () => {
  const { spawn } = await import('node:child_process')
  shield.start({
    flushTime: 0.2,
    logsPath,
    stall: { threshold: '300ms' },
    prometheus: { port: 0, health: { blocked: '30s' } },
  })
  const { port } = shield.metricsAddress()
  await sleep(400)
  const dir = mkdtempSync(join(tmpdir(), 'shield-stall-http-'))
  const base = `http://127.0.0.1:${port}`
  const sh = spawn('sh', ['-c', `sleep 2; curl -s --max-time 1 -o ${dir}/m -w '%{http_code}' ${base}/metrics > ${dir}/ms; curl -s --max-time 1 -o ${dir}/h -w '%{http_code}' ${base}/healthz > ${dir}/hs`], { stdio: 'ignore' })
  const exited = new Promise((r) => sh.once('exit', r))
  const got = nextEvent('stall', 15000)
  function spinForever(ms) {
    // stands in for `while (true)` that someone breaks out of after 5 s
    busyLoop(ms)
  }
  spinForever(5000)
  await exited
  const e = await got
  assert.equal(readFileSync(`${dir}/ms`, 'utf8'), '200')
  const m = readFileSync(`${dir}/m`, 'utf8')
  const value = (name) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(m)?.[1])
  assert.ok(value('nodejs_eventloop_stall_seconds') >= 1.5, m.match(/.*stall.*/g)?.join('\n'))
  assert.equal(value('shield_stalls_total'), 1)
  assert.equal(readFileSync(`${dir}/hs`, 'utf8'), '503')
  assert.equal(JSON.parse(readFileSync(`${dir}/h`, 'utf8')).failures[0].check, 'stalled')
  assert.ok(e.duration >= 4900)
  assert.equal(e.culprit.functionName, 'busyLoop')
  assert.ok(e.pausedStack.some((f) => f.functionName === 'spinForever'))
  await sleep(300)
  const after = await fetch(`${base}/healthz`)
  assert.equal(after.status, 200)
})
