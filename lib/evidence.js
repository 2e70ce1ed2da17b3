'use strict'
// Evidence: CPU profiles, heap snapshots and heap sampling profiles, driven
// on this thread through node:inspector; files are written by the native
// writer thread (atomic, 0600, quota); flame graphs render on the libuv pool.
//
// A feature module of index.js (hooks start/emergency/stop) plus the public
// API functions cpuProfile, heapSnapshot, heapProfile, flamegraph.

const inspector = require('node:inspector')
const v8 = require('node:v8')
const { threadId, isMainThread } = require('node:worker_threads')
// Loaded on first use: index.js may run without a binary (SHIELD_OPTIONAL=1).
let binding = null
const native = () => binding || (binding = require('../binding.js'))

let session = null
// From index.js: emit a public event, report an internal failure.
let hooks = { emit: () => {}, report: () => {} }
// The running state (set by start, cleared by stop) and its settings.
let active = null
let defaults = null
// Kinds being captured now: a capture never starts while one of its kind runs.
const busy = new Set()
// Wakes captures that are waiting out their duration (stop() ends them early).
const sleepers = new Set()

function settings() {
  if (active && active.evidence) return active.evidence
  if (!defaults) defaults = native().evidenceSettings({})
  return defaults
}

function storeOf(cfg) {
  return { logsPath: cfg.logsPath, maxArtifacts: cfg.maxArtifacts, maxDiskBytes: cfg.maxDiskBytes }
}

function getSession() {
  if (!session) {
    const s = new inspector.Session()
    s.connect()
    session = s
  }
  return session
}

function post(method, params) {
  return new Promise((resolve, reject) => {
    try {
      getSession().post(method, params || {}, (err, res) => (err ? reject(new Error(`shield: inspector ${method} failed: ${err.message}`)) : resolve(res)))
    } catch (err) {
      reject(err)
    }
  })
}

// An API call the app awaits keeps the process alive for its duration; a
// capture shield starts by itself (emergency, signal) never does.
function sleep(ms, keepAlive) {
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(t)
      sleepers.delete(wake)
      resolve()
    }
    const t = setTimeout(wake, ms)
    if (!keepAlive) t.unref()
    sleepers.add(wake)
  })
}

/** Duration option: number of ms, or a string such as '10s'/'500ms'. */
function durationMs(v, fallback, name) {
  if (v === undefined || v === null) return fallback
  let ms = null
  if (typeof v === 'number' && Number.isFinite(v)) ms = v
  else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/i.exec(v)
    if (m) ms = Number(m[1]) * ({ ms: 1, s: 1000, m: 60000 }[(m[2] || 'ms').toLowerCase()])
  }
  if (ms === null || ms < 0 || ms > 3600e3) throw new TypeError(`shield: ${name} must be a number of milliseconds or a duration string such as '10s' (got ${JSON.stringify(v)})`)
  return ms
}

function checkKeys(opts, allowed, fn) {
  if (opts === undefined || opts === null) return {}
  if (typeof opts !== 'object') throw new TypeError(`shield: ${fn} options must be an object`)
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) throw new TypeError(`shield: unknown ${fn} option '${k}'; known options are ${allowed.join(', ')}`)
  }
  return opts
}

function sidecar(kind, trigger, extra) {
  let usage = null
  try {
    usage = active ? active.watcher.usage() : null
  } catch {}
  return JSON.stringify({
    kind,
    pid: process.pid,
    threadId,
    createdAt: new Date().toISOString(),
    node: process.version,
    trigger,
    ...extra,
    usage,
  })
}

function announce(kind, written, trigger) {
  const info = { kind, path: written.path, bytes: written.bytes, sidecar: written.sidecar || null, rotated: written.rotated || [], trigger }
  hooks.emit('artifact', info)
  return info
}

// Runs `body(id)` on a freshly opened artifact stream; finishes or aborts it.
async function streamed(kind, ext, trigger, extra, body) {
  const cfg = settings()
  const { id } = native().artifactOpen(storeOf(cfg), kind, ext, threadId)
  let meta
  try {
    meta = await body(id, cfg)
  } catch (err) {
    native().artifactAbort(id)
    throw err
  }
  const written = await native().artifactFinish(id, sidecar(kind, trigger, { ...extra, ...meta }))
  return { ...announce(kind, written, trigger), ...meta }
}

async function exclusive(kind, fn) {
  if (busy.has(kind)) throw new Error(`shield: a ${kind} capture is already running; not starting another`)
  busy.add(kind)
  try {
    return await fn()
  } finally {
    busy.delete(kind)
  }
}

async function captureCpuProfile(opts, trigger) {
  opts = checkKeys(opts, ['duration', 'interval'], 'cpuProfile')
  const cfg = settings()
  const duration = durationMs(opts.duration, cfg.samplingTimeMs, 'cpuProfile duration')
  const interval = opts.interval === undefined ? cfg.samplingIntervalUs : Number(opts.interval)
  if (!(interval >= 50 && interval <= 1e6)) throw new RangeError('shield: cpuProfile interval must be microseconds from 50 to 1000000')
  return exclusive('cpuprofile', () =>
    streamed('cpuprofile', 'cpuprofile', trigger, { durationMs: duration, intervalUs: interval }, async (id) => {
      await post('Profiler.enable')
      await post('Profiler.setSamplingInterval', { interval: Math.round(interval) })
      await post('Profiler.start')
      let profile
      try {
        await sleep(duration, trigger.type === 'api')
      } finally {
        profile = (await post('Profiler.stop')).profile
        post('Profiler.disable').catch(() => {})
      }
      native().artifactWrite(id, JSON.stringify(profile))
      return { samples: profile.samples ? profile.samples.length : 0 }
    }),
  )
}

function marginBytes(cfg, limit) {
  return cfg.heapSnapshotMarginBytes != null ? cfg.heapSnapshotMarginBytes : cfg.heapSnapshotMarginRatio * limit
}

async function captureHeapSnapshot(opts, trigger) {
  checkKeys(opts, [], 'heapSnapshot')
  const cfg = settings()
  const h = v8.getHeapStatistics()
  const free = h.heap_size_limit - h.used_heap_size
  const margin = marginBytes(cfg, h.heap_size_limit)
  if (free < margin) {
    const mb = (b) => `${Math.round(b / 1048576)} MB`
    throw new Error(`shield: heap snapshot refused: ${mb(h.used_heap_size)} used of a ${mb(h.heap_size_limit)} heap limit leaves ${mb(free)}, under the heapSnapshotMargin of ${mb(margin)} (a snapshot can double memory for a moment)`)
  }
  return exclusive('heapsnapshot', () =>
    streamed('heapsnapshot', 'heapsnapshot', trigger, { heapUsed: h.used_heap_size, heapLimit: h.heap_size_limit }, (id) =>
      snapshotVia === 'stream' && typeof v8.getHeapSnapshot === 'function' ? snapshotFromStream(id) : snapshotFromInspector(id),
    ),
  )
}

// How snapshots are taken: 'stream' (v8.getHeapSnapshot(): V8 serialises
// into Buffers, no protocol messages to parse) when Node has it, else
// 'inspector' (HeapProfiler.takeHeapSnapshot chunks). Either way each chunk
// goes straight to the writer thread. SHIELD_HEAP_SNAPSHOT_VIA=inspector
// forces the fallback (the tests run both).
const snapshotVia = process.env.SHIELD_HEAP_SNAPSHOT_VIA === 'inspector' ? 'inspector' : 'stream'

function snapshotFromStream(id) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    let chunks = 0
    let failed = null
    let stream
    try {
      stream = v8.getHeapSnapshot()
    } catch (err) {
      reject(err)
      return
    }
    stream.on('data', (chunk) => {
      if (failed) return
      try {
        native().artifactWrite(id, chunk)
        chunks++
      } catch (err) {
        failed = err
        stream.destroy()
      }
    })
    stream.once('error', (err) => reject(failed || err))
    // 'end' (Node 18's snapshot stream emits no 'close'); 'close' covers a destroyed stream.
    const done = () => (failed ? reject(failed) : resolve({ chunks, via: 'stream', pauseMs: Number(process.hrtime.bigint() - t0) / 1e6 }))
    stream.once('end', done)
    stream.once('close', () => failed && reject(failed))
  })
}

async function snapshotFromInspector(id) {
  const s = getSession()
  let failed = null
  let chunks = 0
  const onChunk = (m) => {
    if (failed) return
    try {
      native().artifactWrite(id, m.params.chunk)
      chunks++
    } catch (err) {
      failed = err
    }
  }
  s.on('HeapProfiler.addHeapSnapshotChunk', onChunk)
  const t0 = process.hrtime.bigint()
  try {
    await post('HeapProfiler.takeHeapSnapshot', { reportProgress: false })
  } finally {
    s.off('HeapProfiler.addHeapSnapshotChunk', onChunk)
  }
  if (failed) throw failed
  return { chunks, via: 'inspector', pauseMs: Number(process.hrtime.bigint() - t0) / 1e6 }
}

async function captureHeapProfile(opts, trigger) {
  opts = checkKeys(opts, ['duration', 'interval'], 'heapProfile')
  const cfg = settings()
  const duration = durationMs(opts.duration, cfg.samplingTimeMs, 'heapProfile duration')
  const interval = opts.interval === undefined ? cfg.heapSamplingInterval : Number(opts.interval)
  if (!(interval >= 128 && interval <= 2 ** 30)) throw new RangeError('shield: heapProfile interval must be bytes from 128 to 1073741824')
  return exclusive('heapprofile', () =>
    streamed('heapprofile', 'heapprofile', trigger, { durationMs: duration, intervalBytes: interval }, async (id) => {
      await post('HeapProfiler.enable')
      await post('HeapProfiler.startSampling', { samplingInterval: Math.round(interval) })
      let profile
      try {
        await sleep(duration, trigger.type === 'api')
      } finally {
        profile = (await post('HeapProfiler.stopSampling')).profile
      }
      native().artifactWrite(id, JSON.stringify(profile))
      return { samples: profile.samples ? profile.samples.length : 0 }
    }),
  )
}

// --- flame graphs -----------------------------------------------------------

const DRAW_KEYS = ['title', 'subtitle', 'minWidth', 'reverse', 'colors', 'width', 'normalize']

function toSource(input, what) {
  if (typeof input === 'string') return input
  if (Buffer.isBuffer(input)) return input
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  if (input && typeof input === 'object') {
    if (typeof input.path === 'string' && !input.nodes && !input.head) return input.path
    return Buffer.from(JSON.stringify(input))
  }
  throw new TypeError(`shield: flamegraph ${what} must be a file path, a Buffer, a profile object or a capture result (got ${input === null ? 'null' : typeof input})`)
}

function withOffset(err) {
  const m = /at byte (\d+)/.exec(err && err.message)
  if (m) err.offset = Number(m[1])
  return err
}

/**
 * Renders a .cpuprofile or .heapprofile to an SVG flame graph off the JS
 * thread. Resolves the SVG text, or the path when `output` is given.
 * `before` makes a differential flame graph (red: grew, blue: shrank).
 */
async function flamegraph(input, opts) {
  opts = checkKeys(opts, ['output', 'before', ...DRAW_KEYS], 'flamegraph')
  const draw = {}
  for (const k of DRAW_KEYS) if (opts[k] !== undefined) draw[k] = opts[k]
  if (opts.output !== undefined && (typeof opts.output !== 'string' || !opts.output)) throw new TypeError('shield: flamegraph output must be a file path')
  const src = toSource(input, 'input')
  const before = opts.before === undefined ? null : toSource(opts.before, 'before')
  try {
    const r = await native().renderFlamegraph(src, before, draw, opts.output ? { output: opts.output } : null)
    return opts.output ? r.path : r.svg
  } catch (err) {
    throw withOffset(err)
  }
}

/** Folded stacks (`a;b;c weight` lines) of a profile: the text other flame graph tools read. */
async function foldStacks(input) {
  try {
    return await native().foldProfile(toSource(input, 'input'))
  } catch (err) {
    throw withOffset(err)
  }
}

// Renders a just-captured profile into logsPath as a `flamegraph` artifact.
async function renderArtifact(profile, trigger) {
  const cfg = settings()
  const written = await native().renderFlamegraph(profile.path, null, {}, {
    store: storeOf(cfg),
    threadId,
    sidecar: JSON.stringify({ kind: 'flamegraph', pid: process.pid, threadId, createdAt: new Date().toISOString(), source: profile.path, trigger }),
  })
  return announce('flamegraph', written, trigger)
}

// --- actions (emergencies and the signal) -----------------------------------

/** Runs `actions`; resolves the list of artifacts written. Failures go to report. */
async function runActions(actions, trigger, report) {
  const artifacts = []
  const attempt = async (p) => {
    try {
      const a = await p()
      artifacts.push(a)
      return a
    } catch (err) {
      report(err)
      return null
    }
  }
  const wants = (a) => actions.includes(a)
  // The snapshot first: it pauses the thread, and would otherwise sit in the CPU profile.
  if (wants('heapsnapshot')) await attempt(() => captureHeapSnapshot(undefined, trigger))
  const jobs = []
  if (wants('cpuprofile') || wants('flamegraph')) {
    jobs.push(
      attempt(() => captureCpuProfile(undefined, trigger)).then((p) => (p && wants('flamegraph') ? attempt(() => renderArtifact(p, trigger)) : null)),
    )
  }
  if (wants('heapprofile')) {
    jobs.push(attempt(() => captureHeapProfile(undefined, trigger)).then((p) => (p && wants('flamegraph') ? attempt(() => renderArtifact(p, trigger)) : null)))
  }
  await Promise.all(jobs)
  return artifacts
}

function onSignal(s) {
  return () => {
    const cfg = s.evidence
    runActions(cfg.signalActions, { type: 'signal', signal: cfg.signal }, s.report).catch(s.report)
  }
}

module.exports = {
  name: 'evidence',
  attach(h) {
    hooks = h
  },
  start(s) {
    s.evidence = native().evidenceSettings(s.options)
    active = s
    const cfg = s.evidence
    if (cfg.heapSnapshotNearHeapLimit > 0 && typeof v8.setHeapSnapshotNearHeapLimit === 'function') {
      // Node writes these itself (to --diagnostic-dir, default the working directory).
      v8.setHeapSnapshotNearHeapLimit(cfg.heapSnapshotNearHeapLimit)
    }
    if (cfg.signal && isMainThread) {
      s.signalHandler = onSignal(s)
      process.on(cfg.signal, s.signalHandler)
    }
  },
  /** Captures the configured actions; event.artifacts fills as files are written. */
  emergency(s, event) {
    const cfg = s.evidence
    event.artifacts = []
    if (!cfg || cfg.actions.length === 0) return undefined
    const trigger = { type: event.type, breaches: event.breaches, at: new Date(event.usage.timestamp).toISOString() }
    return runActions(cfg.actions, trigger, s.report).then((list) => {
      event.artifacts.push(...list)
      return list
    })
  },
  stop(s) {
    if (s.signalHandler) process.removeListener(s.evidence.signal, s.signalHandler)
    s.signalHandler = null
    if (active === s) active = null
    // Captures waiting out their duration finish now with what they have.
    for (const wake of [...sleepers]) wake()
  },
  api: {
    cpuProfile: (opts) => captureCpuProfile(opts, { type: 'api' }),
    heapSnapshot: (opts) => captureHeapSnapshot(opts, { type: 'api' }),
    heapProfile: (opts) => captureHeapProfile(opts, { type: 'api' }),
    flamegraph,
    flamegraphDiff: (before, after, opts) => flamegraph(after, { ...checkKeys(opts, ['output', ...DRAW_KEYS], 'flamegraphDiff'), before }),
    foldStacks,
  },
}
