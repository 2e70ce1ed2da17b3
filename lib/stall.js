'use strict'
// Stuck-loop detection (option `stall`): the native heartbeat notices a loop
// that has not answered for `threshold` while it is still stuck; with
// `capture`, a sentinel worker samples the blocking JavaScript stacks. When the
// loop runs again this emits 'stall' with the duration and the stacks, writes
// a .json artifact, and raises an emergency.
const { Worker, isMainThread } = require('node:worker_threads')
const inspector = require('node:inspector')
const path = require('node:path')
const { writeArtifact } = require('./artifact-file')

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
    /** The loop had been stuck this long when the native watchdog noticed (threshold + latency). */
    detectedAfterMs: capture ? capture.detectedAfterMs : null,
    /** From detection to the profiler sampling the stuck loop. */
    captureLatencyMs: capture ? capture.captureLatencyMs : null,
    captured: !!(capture && capture.profile),
    path: null,
    profilePath: null,
  }
  if (capture && capture.error) s.report(new Error(`shield: stall capture: ${capture.error}`))
  try {
    if (capture && capture.profile) event.profilePath = writeArtifact(s, 'stall', 'cpuprofile', JSON.stringify(capture.profile))
    event.path = writeArtifact(s, 'stall', 'json', JSON.stringify(event, null, 2))
  } catch (err) {
    s.report(err)
  }
  s.emit('stall', event)
  s.emergency({ type: 'stall', breaches: [], stall: event })
}

function stop(s) {
  if (s.stall && s.stall.sentinel) s.stall.sentinel.terminate()
  if (s.stall) for (const w of s.stall.waiting) clearTimeout(w.timer)
}

module.exports = { start, stop, stallEnded, stacksOf, fold, culprit }
