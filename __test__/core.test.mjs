import test from 'node:test'
import assert from 'node:assert/strict'
import v8 from 'node:v8'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { spawnSync } from 'node:child_process'
import { shield, busyWait, sleep, root } from './helpers.mjs'

test.afterEach(() => {
  shield.stop()
  shield.removeAllListeners()
})

test('a usage snapshot has the documented shape and v8-perf-shield names', async () => {
  shield.start({ flushTime: 60 })
  await sleep(50)
  shield.flush()
  await sleep(100)
  const u = shield.flush()
  assert.equal(u.pid, process.pid)
  assert.equal(u.threadId, 0)
  assert.equal(typeof u.cpu, 'number', 'cpu percent from the second flush on')
  assert.equal(u.memory, u.rss)
  assert.ok(u.rss > 10e6)
  assert.ok(u.intervalMs >= 90 && u.intervalMs < 5000, `intervalMs ${u.intervalMs}`)
  assert.ok(u.eventLoop.lag.count > 0)
  for (const k of ['min', 'mean', 'max', 'stddev', 'p50', 'p90', 'p99']) assert.equal(typeof u.eventLoop.lag[k], 'number', k)
  assert.ok(u.eventLoop.lag.min <= u.eventLoop.lag.p50 && u.eventLoop.lag.p50 <= u.eventLoop.lag.p99 && u.eventLoop.lag.p99 <= u.eventLoop.lag.max)
  assert.ok(u.eventLoop.utilization >= 0 && u.eventLoop.utilization <= 1)
  const names = u.heap.spaces.map((s) => s.name)
  assert.ok(names.includes('new') && names.includes('old'), names.join())
  for (const kind of ['minor', 'major', 'incremental', 'weakcb']) assert.equal(typeof u.gcTotal[kind].count, 'number')
  assert.ok(Number.isInteger(u.handles) && Number.isInteger(u.requests))
  assert.ok(!JSON.stringify(u).includes('null'), 'no NaN/null garbage anywhere')
  assert.equal(u.gcTotal.heap, undefined, 'heap before/after only with gcHeapStats')
})

test('100 ms blocks: max and p99 within 10 %, agreeing with monitorEventLoopDelay', async () => {
  // resolution 1 ms: at the default 10 ms its readings carry up to 10 ms of timer bias.
  const h = monitorEventLoopDelay({ resolution: 1 })
  shield.start({ flushTime: 60 })
  h.enable()
  await sleep(100)
  for (let i = 0; i < 10; i++) {
    busyWait(100)
    await sleep(50)
  }
  h.disable()
  const lag = shield.flush().eventLoop.lag
  const theirs = h.max / 1e6
  assert.ok(Math.abs(lag.max - 100) <= 10, `max ${lag.max} ms`)
  assert.ok(Math.abs(lag.p99 - 100) <= 10, `p99 ${lag.p99} ms`)
  assert.ok(Math.abs(lag.max - theirs) / theirs <= 0.1, `ours ${lag.max} vs monitorEventLoopDelay ${theirs}`)
  assert.ok(lag.p50 < 10, `idle p50 ${lag.p50} ms`)
})

test('blocked time counts a block as its full length, and a block in progress shows', async () => {
  shield.start({ flushTime: 60 })
  await sleep(50)
  busyWait(600)
  const during = shield.flush()
  assert.ok(during.eventLoop.pendingMs >= 500, `pending ${during.eventLoop.pendingMs}`)
  assert.ok(during.eventLoop.blockedMs >= 500)
  await sleep(30)
  const after = shield.flush()
  assert.equal(after.eventLoop.pendingMs < 50, true)
  assert.ok(after.eventLoop.blockedMs >= 580 && after.eventLoop.blockedMs < 800, `blocked ${after.eventLoop.blockedMs}`)
  assert.ok(after.eventLoop.blockedRatio > 0 && after.eventLoop.blockedRatio <= 1)
  assert.ok(after.eventLoop.lag.max >= 580)
})

test('two readers never reset each other', async () => {
  shield.start({ flushTime: 60 })
  await sleep(50)
  busyWait(60)
  await sleep(20)
  const a = shield.flush().eventLoop.lag
  const b = shield.flush().eventLoop.lag
  assert.ok(b.count >= a.count, 'the window keeps its samples across reads')
  assert.equal(b.max, a.max)
})

test('GC counters move under allocation, with heap before/after', async () => {
  shield.start({ flushTime: 60, gcHeapStats: true })
  shield.flush()
  let keep = []
  for (let i = 0; i < 200; i++) {
    keep.push(new Array(10000).fill(i))
    if (keep.length > 20) keep = []
  }
  await sleep(50) // PerformanceObserver delivers gc entries asynchronously
  const u = shield.flush()
  assert.ok(u.gc.count > 0, 'GCs in the interval')
  assert.ok(u.gc.minor.count > 0)
  assert.equal(u.gc.count, u.gc.minor.count + u.gc.major.count + u.gc.incremental.count + u.gc.weakcb.count)
  assert.ok(u.gc.pauseMs > 0 && u.gc.pauseMaxMs <= u.gc.pauseMs)
  assert.ok(u.gcTotal.count >= u.gc.count)
  if (typeof v8.GCProfiler === 'function') {
    assert.ok(u.gcTotal.heap.collections > 0)
    assert.ok(u.gcTotal.heap.lastBeforeBytes > 0)
  }
})

test('heap figures match v8 within 1 %', () => {
  shield.start({ flushTime: 60 })
  const u = shield.flush()
  const h = v8.getHeapStatistics()
  const near = (a, b) => Math.abs(a - b) / b <= 0.01
  assert.ok(near(u.heap.used, h.used_heap_size), `${u.heap.used} vs ${h.used_heap_size}`)
  assert.ok(near(u.heap.total, h.total_heap_size))
  assert.equal(u.heap.limit, h.heap_size_limit)
  assert.ok(Math.abs(u.heap.usedRatio - h.used_heap_size / h.heap_size_limit) < 0.001)
  const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')
  const ours = u.heap.spaces.find((s) => s.name === 'old')
  assert.ok(near(ours.size, space.space_size))
  assert.ok(Math.abs(u.rss - process.memoryUsage.rss()) / u.rss < 0.05)
})

test('history is a ring of cacheMaxLimit entries, oldest first', async () => {
  shield.start({ flushTime: 60, cacheMaxLimit: 3 })
  const stamps = []
  for (let i = 0; i < 5; i++) {
    stamps.push(shield.flush().timestamp)
    await sleep(5)
  }
  const h = shield.history()
  assert.equal(h.length, 3)
  assert.deepEqual(h.map((u) => u.timestamp), stamps.slice(2))
  assert.deepEqual(shield.usage(), h[2])
})

test('the flush timer takes snapshots by itself and emits usage', async () => {
  shield.start({ flushTime: 0.1 })
  const seen = []
  shield.on('usage', (u) => seen.push(u))
  await sleep(550)
  assert.ok(seen.length >= 3 && seen.length <= 7, `flushes: ${seen.length}`)
  assert.ok(seen.every((u, i) => i === 0 || u.timestamp > seen[i - 1].timestamp))
})

test('emergencyCondition gets (last, current, history); emergencyAction fires once per cooldown', async () => {
  const calls = []
  const actions = []
  const events = []
  shield.start({
    flushTime: 60,
    cooldown: '200ms',
    emergencyCondition(last, current, history) {
      calls.push({ last, current, history })
      return true
    },
    emergencyAction(history, event) {
      actions.push({ history, event })
    },
  })
  shield.on('emergency', (e) => events.push(e))
  shield.flush()
  assert.equal(calls.length, 0, 'needs a previous usage')
  shield.flush()
  shield.flush()
  assert.equal(calls.length, 2)
  const { last, current, history } = calls[0]
  assert.ok(last.timestamp <= current.timestamp)
  assert.deepEqual(history[history.length - 1], current)
  assert.deepEqual(history[history.length - 2], last)
  assert.equal(actions.length, 1, 'second emergency inside the cooldown is suppressed')
  assert.equal(events.length, 1)
  assert.equal(events[0].type, 'condition')
  assert.equal(actions[0].history.length, 2)
  assert.equal(shield.stats().suppressedEmergencies, 1)
  await sleep(220)
  shield.flush()
  assert.equal(actions.length, 2, 'fires again after the cooldown')
})

test('declarative thresholds fire after holding for `for`', async () => {
  const events = []
  shield.start({ flushTime: 60, thresholds: { rss: '1MB', heapUsedRatio: 0.99, for: '150ms' } })
  shield.on('emergency', (e) => events.push(e))
  shield.flush()
  assert.equal(events.length, 0, 'not before holding 150 ms')
  await sleep(170)
  shield.flush()
  assert.equal(events.length, 1)
  const [b] = events[0].breaches
  assert.equal(events[0].type, 'threshold')
  assert.equal(b.metric, 'rss')
  assert.equal(b.limit, 1024 * 1024)
  assert.ok(b.value > b.limit && b.heldMs >= 150)
  assert.equal(events[0].usage.rss, b.value)
})

test('a loop-lag threshold catches a blocking route', async () => {
  const events = []
  shield.start({ flushTime: 60, cooldown: 0, thresholds: { eventLoopLagMax: '200ms' } })
  shield.on('emergency', (e) => events.push(e))
  await sleep(30)
  shield.flush()
  assert.equal(events.length, 0)
  busyWait(300)
  await sleep(20)
  shield.flush()
  assert.equal(events.length, 1)
  assert.equal(events[0].breaches[0].metric, 'eventLoopLagMax')
  assert.ok(events[0].breaches[0].value >= 250)
  assert.ok(events[0].usage.eventLoop.intervalMaxMs >= 250)
  await sleep(30)
  const u = shield.flush()
  assert.equal(events.length, 1, 'the spike is over: no emergency on the next interval')
  assert.ok(u.eventLoop.intervalMaxMs < 200 && u.eventLoop.lag.max >= 250, 'the window still remembers it')
})

test('hooks and listeners that throw become error events, never exceptions', async () => {
  const errors = []
  shield.start({
    flushTime: 60,
    emergencyCondition() {
      throw new Error('boom in condition')
    },
  })
  shield.on('error', (e) => errors.push(e))
  shield.on('usage', () => {
    throw new Error('boom in listener')
  })
  shield.flush()
  shield.flush()
  assert.ok(errors.some((e) => e.message.includes('boom in listener')))
  assert.ok(errors.some((e) => e.message.includes('emergencyCondition threw: boom in condition')))
  assert.ok(shield.stats().errors >= 3)
  // An async emergencyAction that rejects is reported too.
  shield.start({ flushTime: 60, thresholds: { rss: 1 }, emergencyAction: async () => Promise.reject(new Error('async boom')) })
  shield.on('error', (e) => errors.push(e))
  shield.flush()
  await sleep(10)
  assert.ok(errors.some((e) => e.message.includes('async boom')))
})

test('bad options throw TypeError/RangeError naming the option and form', () => {
  const cases = [
    [{ flushTime: 'soon' }, TypeError, /'flushTime'.*seconds/],
    [{ flushTime: -1 }, RangeError, /'flushTime'/],
    [{ cacheMaxLimit: 2.5 }, TypeError, /'cacheMaxLimit' must be an integer/],
    [{ cacheMaxLimit: 0 }, RangeError, /'cacheMaxLimit'/],
    [{ thresholds: { rss: 'lots' } }, TypeError, /'thresholds.rss'.*'1.5GB'/],
    [{ thresholds: { heapUsedRatio: 2 } }, RangeError, /'thresholds.heapUsedRatio'/],
    [{ thresholds: { eventLoopLagP99: 'slow' } }, TypeError, /'thresholds.eventLoopLagP99'.*'200ms'/],
    [{ thresholds: { p99: 5 } }, TypeError, /unknown option 'thresholds.p99'/],
    [{ emergencyAction: 'restart' }, TypeError, /'emergencyAction' must be a function/],
    [{ flushtime: 3 }, TypeError, /unknown option 'flushtime'/],
    [{ logsPath: 42 }, TypeError, /'logsPath'/],
    [{ gcHeapStats: 'yes' }, TypeError, /'gcHeapStats' must be a boolean/],
    ['fast', TypeError, /options must be an object/],
  ]
  for (const [opts, Type, re] of cases) {
    assert.throws(() => shield.start(opts), (e) => e instanceof Type && re.test(e.message), JSON.stringify(opts))
  }
  assert.equal(shield.running, false, 'a rejected start starts nothing')
})

test('v8-perf-shield call form', () => {
  const s = shield({ logsPath: '/tmp', samplingTime: 60, flushTime: 3, cacheMaxLimit: 100, usageOptions: { keepHistory: true } })
  assert.equal(s, shield)
  assert.equal(shield.running, true)
})

test('shield never keeps the process alive', () => {
  const t = Date.now()
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(root)}).start({ flushTime: 0.1, heartbeatInterval: 1 }); setTimeout(() => console.log('done'), 300)`], { encoding: 'utf8', timeout: 10000 })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'done')
  assert.ok(Date.now() - t < 5000, 'exited on its own')
})

test('an unhandled internal error warns once instead of throwing', () => {
  const code = `
    const s = require(${JSON.stringify(root)})
    s.start({ flushTime: 60, emergencyCondition() { throw new Error('x') } })
    s.flush(); s.flush(); s.flush()
    console.log('alive', s.stats().errors)`
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 10000 })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'alive 2')
  assert.equal(r.stderr.match(/ShieldWarning/g)?.length, 1, r.stderr)
})
