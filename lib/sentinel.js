'use strict'
// The stall sentinel: a worker thread holding an inspector session on the main
// thread. When the native heartbeat reports the main loop stalled, it sends, in
// one batch, Profiler.start (V8's sampler then sees the stack from its own
// thread, even inside builtins) and Debugger.enable + Debugger.pause (an exact
// stack, inlined frames included, taken at the next JavaScript statement). Main
// answers inspector messages only between two JavaScript operations: inside a
// long native call (a sync fs call, execSync, one huge JSON.parse) they wait
// until the call returns, and the pause then lands in the function that made
// the call — so even a stall outside JavaScript names its caller. When the loop
// runs again it stops the profiler and disables the debugger, leaving the app
// as it was, and reports to the main thread.
const { workerData, parentPort } = require('node:worker_threads')
const inspector = require('node:inspector')
const native = require('../binding.js')

const { key, intervalMs } = workerData
const session = new inspector.Session()
session.connectToMainThread()

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))))
const within = (p, ms) => Promise.race([p, sleep(ms).then(() => null)])

// Ready before any stall, so a stall costs a single batch of messages.
// An enabled, idle profiler does nothing to the app.
const ready = Promise.all([post('Profiler.enable'), post('Profiler.setSamplingInterval', { interval: Math.max(100, Math.round(intervalMs * 1000)) })])

// Debugger.enable announces every script; paused frames carry only script ids.
const scripts = new Map()
session.on('Debugger.scriptParsed', (m) => {
  if (m.params.url) scripts.set(m.params.scriptId, m.params.url)
})

let current = null
let pausing = null

session.on('Debugger.paused', (m) => {
  // Resume first: every moment paused is the app's time.
  session.post('Debugger.resume')
  const stall = pausing
  pausing = null
  if (!stall) return
  stall.pausedAt = Date.now()
  stall.paused(
    m.params.callFrames.map((f) => ({
      functionName: f.functionName || '(anonymous)',
      url: f.url || scripts.get(f.location.scriptId) || '',
      lineNumber: f.location.lineNumber + 1,
      columnNumber: f.location.columnNumber + 1,
    })),
  )
})

function begin(pendingMs) {
  const stall = { detectedAfterMs: pendingMs, beganAt: Date.now(), profilerAt: null, pausedAt: null, endAt: null, paused: null }
  stall.pausedStack = new Promise((resolve) => (stall.paused = resolve))
  stall.profiler = ready.then(() => post('Profiler.start')).then(() => (stall.profilerAt = Date.now()))
  stall.profiler.catch(() => {})
  pausing = stall
  session.post('Debugger.enable', () => {})
  session.post('Debugger.pause', () => {})
  return stall
}

async function finish(stall, durationMs) {
  stall.endAt = Date.now()
  let profile = null
  let error = null
  try {
    // Main runs again, so it answers now.
    if ((await within(stall.profiler, 10000)) === null) throw new Error('profiler did not start')
    profile = (await post('Profiler.stop')).profile
  } catch (err) {
    error = err.message
  }
  // The pause lands at the next statement; if no JavaScript runs soon, give up on it.
  const pausedStack = await within(stall.pausedStack, 1000)
  if (pausing === stall) pausing = null
  await post('Debugger.disable').catch(() => {})
  scripts.clear()
  // Acknowledged only after the loop ran again: it was blocked where the inspector cannot reach.
  const outsideJs = stall.profilerAt === null || stall.profilerAt > stall.endAt - 20
  // How long after the stall began the native side noticed it, and how long the capture took to start.
  const captureLatencyMs = outsideJs || stall.profilerAt === null ? null : stall.profilerAt - stall.beganAt
  parentPort.postMessage({ type: 'stall', durationMs, profile, pausedStack, outsideJs, error, detectedAfterMs: stall.detectedAfterMs, captureLatencyMs })
}

const subscribed = native.subscribeStalls(key, (what, ms) => {
  if (what === 'start') {
    if (!current) current = begin(ms)
  } else if (what === 'end' && current) {
    const stall = current
    current = null
    finish(stall, ms).catch((err) => parentPort.postMessage({ type: 'error', message: err.message }))
  }
})
parentPort.postMessage({ type: 'ready', subscribed })
