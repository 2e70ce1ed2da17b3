'use strict'
// Stuck-loop detection (option `stall`): the native heartbeat notices a loop
// that has not answered for `threshold` while it is still stuck; with
// `capture`, a sentinel worker samples the blocking JavaScript stacks. When the
// loop runs again this emits 'stall' with the duration and the stacks, writes
// a .json artifact, and raises an emergency.
const { Worker, isMainThread } = require('node:worker_threads')
const inspector = require('node:inspector')
const path = require('node:path')
const { threadId } = require('node:worker_threads')

// Loaded on first use: index.js may run without a binary (SHIELD_OPTIONAL=1).
const native = () => require('../binding.js')

let warnedInspector = false
let warnedWorker = false

const IDLE = new Set(['(root)', '(program)', '(idle)', '(garbage collector)'])

/**
 * Distinct stacks of a .cpuprofile with their sample counts, innermost frame
 * first; idle and bookkeeping samples left out.
 */
function stacksOf(profile) {
  if (!profile || !Array.isArray(profile.nodes)) return []
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id)
  const counts = new Map()
  for (const id of profile.samples || []) counts.set(id, (counts.get(id) || 0) + 1)
  const out = []
  for (const [id, count] of counts) {
    const leaf = byId.get(id)
    if (!leaf || IDLE.has(leaf.callFrame.functionName)) continue
    const frames = []
    for (let n = leaf; n && n.callFrame.functionName !== '(root)'; n = byId.get(parent.get(n.id))) {
      const f = n.callFrame
      frames.push({ functionName: f.functionName || '(anonymous)', url: f.url || '', lineNumber: f.lineNumber + 1, columnNumber: f.columnNumber + 1 })
    }
    out.push({ frames, count })
  }
  return out.sort((a, b) => b.count - a.count)
}

/** Folded stacks ("root;caller;callee count"), the input of every flame graph tool. */
function fold(stacks) {
  return stacks.map(
    ({ frames, count }) =>
      frames
        .slice()
        .reverse()
        .map((f) => `${f.functionName} (${f.url ? path.basename(f.url) : '?'}:${f.lineNumber})`.replace(/;/g, ','))
        .join(';') + ` ${count}`,
  )
}

const isAppFrame = (f) => f.url && !f.url.startsWith('node:')

/**
 * The code that blocked: the innermost application frame of the paused stack,
 * else the application frame seen most often in the profile.
 */
function culprit(stacks, pausedStack) {
  const own = pausedStack && pausedStack.find(isAppFrame)
  if (own) return { ...own, samples: stacks.reduce((n, s) => n + (s.frames.some((f) => f.functionName === own.functionName && f.url === own.url) ? s.count : 0), 0) }
  const counts = new Map()
  for (const { frames, count } of stacks) {
    const top = frames.find(isAppFrame) || frames[0]
    if (!top) continue
    const id = `${top.functionName}\u0000${top.url}\u0000${top.lineNumber}`
    const c = counts.get(id) || { frame: top, samples: 0 }
    c.samples += count
    counts.set(id, c)
  }
  const best = [...counts.values()].sort((a, b) => b.samples - a.samples)[0]
  return best ? { ...best.frame, samples: best.samples } : null
}

function start(s) {
  const cfg = s.watcher.stall
  if (!cfg) return
  s.stall = { cfg, sentinel: null, waiting: [], reports: [] }
  let capture = cfg.capture
  if (capture && !isMainThread) {
    // connectToMainThread() reaches only the main thread.
    capture = false
    if (!warnedWorker) {
      warnedWorker = true
      process.emitWarning('shield: stall stacks are captured on the main thread only; in this worker stalls are detected without stacks', 'ShieldWarning')
    }
  } else if (capture && inspector.url()) {
    capture = false
    if (!warnedInspector) {
      warnedInspector = true
      process.emitWarning('shield: the inspector is already in use (--inspect); stalls are detected but their stacks are not captured', 'ShieldWarning')
    }
  }
  if (!capture) return
  const sentinel = new Worker(path.join(__dirname, 'sentinel.js'), {
    workerData: { key: s.watcher.key, intervalMs: cfg.intervalMs },
    resourceLimits: { maxOldGenerationSizeMb: 32 },
  })
  sentinel.on('message', (m) => {
    if (m.type === 'stall') {
      const w = s.stall.waiting.shift()
      if (w) {
        clearTimeout(w.timer)
        report(s, w.durationMs, m)
      }
    } else if (m.type === 'error') s.report(new Error(`shield: stall sentinel: ${m.message}`))
    else if (m.type === 'ready' && !m.subscribed) s.report(new Error('shield: stall sentinel could not subscribe'))
  })
  sentinel.on('error', (err) => s.report(err))
  // After the listeners: adding a 'message' listener refs the worker again.
  sentinel.unref()
  s.stall.sentinel = sentinel
}

/** Called on the main thread by the heartbeat that ended a stall. */
function stallEnded(s, durationMs) {
  if (!s.stall) return
  if (!s.stall.sentinel) return report(s, durationMs, null)
  // Wait for the sentinel's stacks; report without them if it does not answer.
  const w = { durationMs, timer: null }
  w.timer = setTimeout(() => {
    const i = s.stall.waiting.indexOf(w)
    if (i >= 0) s.stall.waiting.splice(i, 1)
    report(s, durationMs, null)
  }, 3000)
  w.timer.unref()
  s.stall.waiting.push(w)
}

// Artifacts go through the evidence store (0600 in a 0700 logsPath, atomic,
// maxArtifacts/maxDiskBytes rotation): the stall's .cpuprofile with the event as
// its .json sidecar, and its flame graph; without a profile, the event alone.
async function writeArtifacts(s, event, profile) {
  const cfg = s.evidence || native().evidenceSettings(s.options)
  const store = { logsPath: cfg.logsPath, maxArtifacts: cfg.maxArtifacts, maxDiskBytes: cfg.maxDiskBytes }
  const record = JSON.stringify({ kind: 'stall', pid: process.pid, threadId, createdAt: new Date().toISOString(), node: process.version, stall: event })
  const { id } = native().artifactOpen(store, 'stall', profile ? 'cpuprofile' : 'json', threadId)
  try {
    native().artifactWrite(id, profile ? JSON.stringify(profile) : record)
  } catch (err) {
    native().artifactAbort(id)
    throw err
  }
  const written = await native().artifactFinish(id, profile ? record : null)
  s.emit('artifact', { kind: 'stall', path: written.path, bytes: written.bytes, sidecar: written.sidecar || null, rotated: written.rotated || [], trigger: { type: 'stall' } })
  if (!profile) return { path: written.path }
  const title = `stall of ${Math.round(event.duration)} ms` + (event.culprit ? ` in ${event.culprit.functionName}` : '')
  const svg = await native().renderFlamegraph(written.path, null, { title }, {
    store,
    threadId,
    sidecar: JSON.stringify({ kind: 'flamegraph', pid: process.pid, threadId, createdAt: new Date().toISOString(), source: written.path, trigger: { type: 'stall' } }),
  })
  s.emit('artifact', { kind: 'flamegraph', path: svg.path, bytes: svg.bytes, sidecar: svg.sidecar || null, rotated: svg.rotated || [], trigger: { type: 'stall' } })
  return { path: written.sidecar, profilePath: written.path, flamegraphPath: svg.path }
}

function report(s, durationMs, capture) {
  const stacks = capture ? stacksOf(capture.profile).slice(0, s.stall.cfg.samples) : []
  const pausedStack = (capture && capture.pausedStack) || null
  const event = {
    duration: durationMs,
    thresholdMs: s.stall.cfg.thresholdMs,
    stacks,
    pausedStack,
    folded: fold(stacks),
    culprit: culprit(stacks, pausedStack),
    outsideJs: !!(capture && capture.outsideJs),
    // The loop had been stuck this long when the native watchdog noticed (threshold + latency).
    detectedAfterMs: capture ? capture.detectedAfterMs : null,
    // From detection to the profiler sampling the stuck loop.
    captureLatencyMs: capture ? capture.captureLatencyMs : null,
    captured: !!(capture && capture.profile),
    path: null,
    profilePath: null,
    flamegraphPath: null,
  }
  if (capture && capture.error) s.report(new Error(`shield: stall capture: ${capture.error}`))
  // The event waits for its files (a few ms, written and rendered off the JS thread);
  // a failed write is an 'error', and the event still comes.
  writeArtifacts(s, event, capture && capture.profile)
    .then((paths) => Object.assign(event, paths), (err) => s.report(err))
    .then(() => {
      if (s.stopped) return
      s.emit('stall', event)
      s.emergency({ type: 'stall', breaches: [], stall: event })
    })
}

function stop(s) {
  if (s.stall && s.stall.sentinel) s.stall.sentinel.terminate()
  if (s.stall) for (const w of s.stall.waiting) clearTimeout(w.timer)
}

module.exports = { start, stop, stallEnded, stacksOf, fold, culprit }
