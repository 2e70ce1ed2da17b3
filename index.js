'use strict'
// The JS facade: reads what only the JS thread can read (V8 statistics, GC
// entries, ELU), hands it to the native watcher once per flush, and runs the
// user's hooks. Everything else (lag measurement, aggregation, history,
// thresholds) lives in Rust.

const { EventEmitter } = require('node:events')
const v8 = require('node:v8')
const { performance, PerformanceObserver } = require('node:perf_hooks')
const { threadId, isMainThread } = require('node:worker_threads')
const { platformTriple } = require('./lib/platform')

const INSTANCE = Symbol.for('shield.instance')
const native = loadNative()

// The platform binary, or null (and one warning) with SHIELD_OPTIONAL=1 so an
// app on an unsupported platform still starts, unwatched.
function loadNative() {
  try {
    return require('./binding.js')
  } catch (err) {
    const triple = platformTriple()
    const message =
      `shield: no native binary for ${process.platform}/${process.arch}` +
      (process.platform === 'linux' ? ` (${triple.endsWith('musl') ? 'musl' : 'glibc'})` : '') +
      `: looked for shield.${triple}.node and the package shield-${triple}. ` +
      'Reinstall without --no-optional/--omit=optional so npm fetches the prebuilt package, or build from source: ' +
      'install Rust (https://rustup.rs) and run `npm rebuild shield`.'
    if (process.env.SHIELD_OPTIONAL === '1') {
      process.emitWarning(`${message} SHIELD_OPTIONAL=1: shield is disabled for this process.`, 'ShieldWarning')
      return null
    }
    const e = new Error(message)
    e.cause = err
    throw e
  }
}
// Analysis modules load on first use: an app that never analyses pays nothing.
const heap = () => require('./lib/heap.js')
const metricsOut = require('./lib/metrics.js')

const FUNCTION_OPTIONS = ['emergencyCondition', 'emergencyAction']

// Capabilities built on the watcher plug in here. Each may define
// start(s), flush(s, usage), emergency(s, event) and stop(s); `s` is the
// running state ({ watcher, options, fns, report }). A feature never throws
// out of these: failures go to s.report(err).
const stall = require('./lib/stall')
const evidence = require('./lib/evidence.js')
const features = [metricsOut, stall, evidence]
const emitter = new EventEmitter()
let state = null
let warnedUnhandled = false

/** v8-perf-shield call form: `require('shield')(options)`. */
function shield(options) {
  return start(options)
}

function splitOptions(options) {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`shield: options must be an object (got ${Array.isArray(options) ? 'an array' : typeof options})`)
  }
  const data = {}
  const fns = {}
  for (const [k, v] of Object.entries(options)) {
    if (FUNCTION_OPTIONS.includes(k)) {
      if (v !== undefined && v !== null && typeof v !== 'function') {
        throw new TypeError(`shield: option '${k}' must be a function (got ${typeof v})`)
      }
      fns[k] = v || null
    } else if (typeof v === 'function') {
      throw new TypeError(`shield: option '${k}' must not be a function`)
    } else if (v !== undefined) {
      data[k] = v
    }
  }
  const err = native.checkOptions(data)
  if (err) throw new (err.kind === 'RangeError' ? RangeError : TypeError)(err.message)
  return { data, fns }
}

for (const f of features) if (f.attach) f.attach({ emit: (...a) => emitSafe(...a), report: (e) => reportError(e) })

function reportError(err) {
  if (state) {
    try {
      state.watcher.countError()
    } catch {}
  }
  const error = err instanceof Error ? err : new Error(String(err))
  if (emitter.listenerCount('error') > 0) {
    try {
      emitter.emit('error', error)
    } catch {}
  } else if (!warnedUnhandled) {
    // EventEmitter would throw an unhandled 'error'; shield never throws into the app.
    warnedUnhandled = true
    process.emitWarning(`shield: ${error.message} (listen to shield.on('error') to see further errors)`, 'ShieldWarning')
  }
}

function emitSafe(name, ...args) {
  try {
    emitter.emit(name, ...args)
  } catch (err) {
    reportError(err)
  }
}

// Node ≥ 23.9 can tell a worker thread's own CPU time; before that every
// thread reports the process's.
const threadCpu = !isMainThread && typeof process.threadCpuUsage === 'function'

function readSample() {
  const mem = process.memoryUsage()
  const heap = v8.getHeapStatistics()
  const spaces = v8.getHeapSpaceStatistics().map((s) => ({
    name: s.space_name.replace(/_space$/, ''),
    size: s.space_size,
    used: s.space_used_size,
    available: s.space_available_size,
  }))
  const cpu = threadCpu ? process.threadCpuUsage() : process.cpuUsage()
  const elu = performance.eventLoopUtilization()
  return {
    timestamp: Date.now(),
    uptime: process.uptime(),
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    rss: mem.rss,
    heapUsed: heap.used_heap_size,
    heapTotal: heap.total_heap_size,
    heapLimit: heap.heap_size_limit,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    spaces,
    eluIdle: elu.idle,
    eluActive: elu.active,
    handles: typeof process._getActiveHandles === 'function' ? process._getActiveHandles().length : 0,
    requests: typeof process._getActiveRequests === 'function' ? process._getActiveRequests().length : 0,
  }
}

function startGcProfiler() {
  if (typeof v8.GCProfiler !== 'function') return null
  try {
    const p = new v8.GCProfiler()
    p.start()
    return p
  } catch {
    return null
  }
}

// v8.GCProfiler only reports on stop(): stop and restart it each flush.
function drainGcProfiler(s) {
  if (!s.gcProfiler) return
  const data = s.gcProfiler.stop()
  s.gcProfiler = startGcProfiler()
  const stats = data && data.statistics
  if (!stats || stats.length === 0) return
  const pairs = new Float64Array(stats.length * 2)
  stats.forEach((st, i) => {
    pairs[2 * i] = st.beforeGC.heapStatistics.usedHeapSize
    pairs[2 * i + 1] = st.afterGC.heapStatistics.usedHeapSize
  })
  s.watcher.recordGcHeap(pairs)
}

function historyOf(s) {
  if (!s.historyCache) s.historyCache = s.watcher.history()
  return s.historyCache
}

function runHook(s, name, fn, args) {
  try {
    const r = fn(...args)
    if (r && typeof r.then === 'function') r.then(null, (err) => reportError(hookError(name, err)))
    return r
  } catch (err) {
    reportError(hookError(name, err))
    return undefined
  }
}

function hookError(name, err) {
  const e = new Error(`shield: ${name} threw: ${err && err.message ? err.message : err}`)
  e.cause = err
  return e
}

/**
 * Raises an emergency ({ type, breaches, ... }) unless the cooldown holds it back:
 * features see it first, then 'emergency' listeners, then emergencyAction.
 */
function fireEmergency(s, reason, usage = s.watcher.usage()) {
  try {
    if (s.stopped || !s.watcher.claimEmergency(Date.now())) return
    const history = historyOf(s)
    const event = { ...reason, usage, history }
    // A feature may return a promise (captures in progress): the user's
    // emergencyAction runs once they settle, with event.artifacts filled in.
    const pending = []
    for (const f of features) {
      if (!f.emergency) continue
      try {
        const r = f.emergency(s, event)
        if (r && typeof r.then === 'function') pending.push(r)
      } catch (err) {
        reportError(err)
      }
    }
    emitSafe('emergency', event)
    if (s.fns.emergencyAction) {
      const action = s.fns.emergencyAction
      if (pending.length === 0) runHook(s, 'emergencyAction', action, [history, event])
      else Promise.allSettled(pending).then(() => runHook(s, 'emergencyAction', action, [history, event]))
    }
  } catch (err) {
    reportError(err)
  }
}

function flush() {
  const s = state
  if (!s || s.stopped) return
  try {
    drainGcProfiler(s)
    const { usage, breaches } = s.watcher.flush(readSample())
    s.historyCache = null
    emitSafe('usage', usage)
    for (const f of features) if (f.flush) f.flush(s, usage)
    let reason = null
    if (breaches.length > 0) {
      reason = { type: 'threshold', breaches }
    } else if (s.fns.emergencyCondition && s.last) {
      const hit = runHook(s, 'emergencyCondition', s.fns.emergencyCondition, [s.last, usage, historyOf(s)])
      if (hit === true) reason = { type: 'condition', breaches: [] }
    }
    s.last = usage
    if (reason) fireEmergency(s, reason, usage)
  } catch (err) {
    reportError(err)
  }
}

/**
 * Starts watching this thread. Calling it again replaces the previous watcher.
 * Throws TypeError/RangeError on a bad option; never throws afterwards.
 */
function start(options) {
  if (!native) return api // SHIELD_OPTIONAL=1 without a binary: a no-op
  const { data, fns } = splitOptions(options)
  if (state && !state.stopped) stop()
  let s = null
  // Runs on every heartbeat: keep it trivial. stallMs > 0 when this beat ended a stall.
  const onBeat = (stallMs) => {
    if (stallMs > 0 && s && !s.stopped) {
      try {
        stall.stallEnded(s, stallMs)
      } catch (err) {
        reportError(err)
      }
    }
  }
  const watcher = new native.Watcher(data, onBeat, threadId)
  s = { watcher, fns, options: data, report: reportError, emit: emitSafe, emergency: (reason) => fireEmergency(s, reason), last: null, historyCache: null, stopped: false, timer: null, observer: null, gcProfiler: null }
  try {
    s.observer = new PerformanceObserver((list) => {
      if (s.stopped) return
      try {
        const entries = list.getEntries()
        const flat = new Float64Array(entries.length * 2)
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i]
          flat[2 * i] = e.detail ? e.detail.kind : e.kind
          flat[2 * i + 1] = e.duration
        }
        watcher.recordGc(flat)
      } catch (err) {
        reportError(err)
      }
    })
    s.observer.observe({ entryTypes: ['gc'] })
    // v8.GCProfiler adds ~45 µs to every GC pause (benches/gc-cost.js): opt-in.
    if (data.gcHeapStats === true) s.gcProfiler = startGcProfiler()
    s.timer = setInterval(flush, watcher.flushMs)
    s.timer.unref()
    for (const f of features) if (f.start) f.start(s)
  } catch (err) {
    teardown(s)
    throw err
  }
  state = s
  return api
}

function teardown(s) {
  s.stopped = true
  for (const f of features) {
    if (f.stop) {
      try {
        f.stop(s)
      } catch (err) {
        reportError(err)
      }
    }
  }
  if (s.timer) clearInterval(s.timer)
  if (s.observer) s.observer.disconnect()
  if (s.gcProfiler) {
    try {
      s.gcProfiler.stop()
    } catch {}
  }
  s.watcher.stop()
}

/** Stops watching; usage() and history() keep returning what was collected. */
function stop() {
  if (state && !state.stopped) teardown(state)
  return api
}

/** Latest usage snapshot, or null before the first flush. */
function usage() {
  return state ? state.watcher.usage() : null
}

/** The usage ring (at most cacheMaxLimit entries), oldest first. */
function history() {
  return state ? historyOf(state).slice() : []
}

/** Takes a usage snapshot now instead of waiting for the timer. */
function flushNow() {
  flush()
  return usage()
}

/** Counters about shield itself (errors, suppressed emergencies, heartbeat failures). */
function stats() {
  return state ? state.watcher.counters() : null
}

/** Prometheus exposition text of every thread in this process (0.0.4, or OpenMetrics with { openMetrics: true }). */
function metrics(opts) {
  if (!native) return ''
  return metricsOut.metrics(state && !state.stopped ? state : null, opts)
}

/** Address of the Prometheus listener ({ host, port }), or null. */
function metricsAddress() {
  return metricsOut.address(state && !state.stopped ? state : null)
}

const api = shield
Object.assign(api, {
  start,
  stop,
  usage,
  history,
  flush: flushNow,
  stats,
  // Evidence (lib/evidence.js): each resolves { path, bytes, sidecar, rotated, ... }.
  cpuProfile: evidence.api.cpuProfile,
  heapSnapshot: evidence.api.heapSnapshot,
  heapProfile: evidence.api.heapProfile,
  flamegraph: evidence.api.flamegraph,
  flamegraphDiff: evidence.api.flamegraphDiff,
  foldStacks: evidence.api.foldStacks,
  heapSummary: (...args) => heap().heapSummary(...args),
  heapDiff: (...args) => heap().heapDiff(...args),
  metrics,
  metricsAddress,
})
Object.defineProperty(api, 'running', { get: () => !!state && !state.stopped, enumerable: true })
for (const m of ['on', 'once', 'off', 'addListener', 'removeListener', 'removeAllListeners', 'prependListener', 'listenerCount']) {
  api[m] = (...args) => {
    const r = emitter[m](...args)
    return r === emitter ? api : r
  }
}

api.default = api

// Two copies of shield in one thread (two node_modules copies, or require plus
// `-r shield/register`) would run two heartbeats and two timers: the first copy
// loaded wins and later copies hand it out, with a warning.
const first = globalThis[INSTANCE]
if (first && first !== api) {
  process.emitWarning(`shield: loaded twice in this thread (${__dirname}); using the copy loaded first`, 'ShieldWarning')
  module.exports = first
} else {
  Object.defineProperty(globalThis, INSTANCE, { value: api, configurable: true })
  module.exports = api
}
