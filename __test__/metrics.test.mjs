// Metrics out: real Prometheus, real Pushgateway, promtool, an Open-Falcon
// receiver that checks the agent contract, and the loop-blocked cases.
import test from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { shield, busyWait, sleep, root } from './helpers.mjs'

test.afterEach(() => {
  shield.stop()
  shield.removeAllListeners()
})

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function getText(url, headers = {}) {
  const r = await fetch(url, { headers, signal: AbortSignal.timeout(5000) })
  return { status: r.status, type: r.headers.get('content-type'), body: await r.text() }
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
async function until(fn, ms, what) {
  const end = Date.now() + ms
  let last
  while (Date.now() < end) {
    try {
      last = await fn()
      if (last) return last
    } catch (e) {
      last = e
    }
    await sleep(250)
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`)
}

function startDaemon(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  p.stderr.on('data', (d) => {
    err = (err + d).slice(-4000)
  })
  return { p, log: () => err, kill: () => p.exitCode === null && p.kill('SIGKILL') }
}

function metricValue(text, name, labelPart = '') {
  const line = text.split('\n').find((l) => l.startsWith(name + '{') && l.includes(labelPart))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

test('a real Prometheus scrapes shield (main thread and a worker) and finds plausible series', { timeout: 90_000 }, async () => {
  shield.start({ flushTime: 0.2, prometheus: { port: 0, labels: { app: 'shield-test' } } })
  const { port } = shield.metricsAddress()
  // a worker_thread that starts shield shows up with a `thread` label on the same listener
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads')
    const shield = require(${JSON.stringify(root)})
    shield.start({ flushTime: 0.2 })
    const keep = setInterval(() => {}, 1000)
    parentPort.on('message', () => { shield.stop(); clearInterval(keep); parentPort.close() })
  `, { eval: true })
  const dir = mkdtempSync(join(tmpdir(), 'shield-prom-'))
  const promPort = await freePort()
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, scrape_timeout: 900ms }\nscrape_configs:\n  - job_name: shield\n    static_configs: [{ targets: ['127.0.0.1:${port}'] }]\n`,
  )
  const prom = startDaemon('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ])
  const query = async (q) => {
    const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(3000) })
    const j = await r.json()
    return j.status === 'success' ? j.data.result : null
  }
  try {
    const heap = await until(async () => {
      const r = await query('nodejs_heap_size_used_bytes')
      return r && r.length >= 2 && r
    }, 60_000, `Prometheus series (prometheus log: ${prom.log().slice(-300)})`)
    const main = heap.find((s) => s.metric.thread === undefined)
    const wrk = heap.find((s) => s.metric.thread === String(worker.threadId))
    assert.ok(main && wrk, JSON.stringify(heap.map((s) => s.metric)))
    assert.equal(main.metric.pid, String(process.pid))
    assert.equal(main.metric.app, 'shield-test')
    assert.equal(main.metric.job, 'shield')
    for (const s of [main, wrk]) {
      const v = Number(s.value[1])
      assert.ok(v > 1e6 && v < 4e9, `heap used ${v}`)
    }
    const up = await query('up{job="shield"}')
    assert.equal(up[0].value[1], '1')
    const rss = Number((await query('process_resident_memory_bytes'))[0].value[1])
    assert.ok(rss > 20e6 && rss < 8e9, `rss ${rss}`)
    const cpu = await query('process_cpu_seconds_total')
    assert.ok(Number(cpu[0].value[1]) > 0)
    const p99 = await query('nodejs_eventloop_lag_p99_seconds')
    assert.ok(p99.length >= 2 && p99.every((s) => Number(s.value[1]) >= 0 && Number(s.value[1]) < 5), JSON.stringify(p99))
    const gcKinds = (await query('nodejs_gc_duration_seconds_count{thread=""}')).map((s) => s.metric.kind).sort()
    assert.deepEqual(gcKinds, ['incremental', 'major', 'minor', 'weakcb'])
    const inf = await query('nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor",thread=""}')
    assert.equal(inf.length, 1)
    const version = await query('nodejs_version_info')
    assert.equal(version[0].metric.version, process.version)
    // the scrape never touched the JS thread, and PromQL works on the histogram
    const rate = await query('rate(nodejs_gc_duration_seconds_count[10s])')
    assert.ok(Array.isArray(rate))
  } finally {
    prom.kill()
    worker.postMessage('stop')
    await new Promise((r) => worker.once('exit', r))
    rmSync(dir, { recursive: true, force: true })
  }
})

test('promtool check metrics parses the output; its only lint notes are the two prom-client names kept for dashboards', async () => {
  shield.start({ flushTime: 60, prometheus: { labels: { app: 'a"b\\c' } } })
  await sleep(50)
  shield.flush()
  const text = shield.metrics()
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  const notes = (r.stdout + r.stderr).split('\n').filter(Boolean).sort()
  assert.deepEqual(notes, [
    'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
    'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  ])
  assert.ok(text.endsWith('\n'))
  assert.ok(text.includes('app="a\\"b\\\\c"'), 'label values escaped')
  for (const n of ['process_cpu_user_seconds_total', 'process_start_time_seconds', 'nodejs_eventloop_lag_p50_seconds', 'nodejs_heap_space_size_used_bytes', 'nodejs_external_memory_bytes']) {
    assert.ok(text.includes(`# TYPE ${n} `), n)
  }
  const om = shield.metrics({ openMetrics: true })
  assert.ok(om.endsWith('# EOF\n'))
  assert.ok(om.includes('# TYPE process_cpu_seconds counter\n'))
})

test('while the loop is blocked for 3 s, curl --max-time 1 gets /metrics and a 503 from /health/status', { timeout: 30_000 }, async () => {
  shield.start({ flushTime: 0.2, prometheus: { port: 0, healthPath: '/health/status', health: { blocked: '1s' } } })
  const { port } = shield.metricsAddress()
  const base = `http://127.0.0.1:${port}`
  await sleep(400)
  const before = await getText(`${base}/health/status`)
  assert.equal(before.status, 200, before.body)
  assert.equal(JSON.parse(before.body).status, 'ok')
  const dir = mkdtempSync(join(tmpdir(), 'shield-block-'))
  // curl runs in another process while this thread is stuck; it writes files, no pipe reads needed
  const sh = spawn('sh', ['-c', `sleep 1.5; curl -s --max-time 1 -o ${dir}/m -w '%{http_code}' ${base}/metrics > ${dir}/ms; curl -s --max-time 1 -o ${dir}/h -w '%{http_code}' ${base}/health/status > ${dir}/hs`], { stdio: 'ignore' })
  const exited = new Promise((r) => sh.once('exit', r))
  busyWait(3000)
  await exited
  try {
    assert.equal(readFileSync(`${dir}/ms`, 'utf8'), '200')
    const m = readFileSync(`${dir}/m`, 'utf8')
    const blocked = metricValue(m, 'shield_eventloop_blocked_seconds')
    assert.ok(blocked >= 1.2 && blocked < 3.5, `blocked ${blocked}`)
    assert.ok(metricValue(m, 'nodejs_eventloop_lag_seconds') >= 1.2)
    assert.equal(readFileSync(`${dir}/hs`, 'utf8'), '503')
    const h = JSON.parse(readFileSync(`${dir}/h`, 'utf8'))
    assert.equal(h.status, 'unhealthy')
    assert.equal(h.failures[0].check, 'blocked')
    assert.ok(h.failures[0].value >= 1000)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  await sleep(300)
  assert.equal((await getText(`${base}/health/status`)).status, 200, 'healthy again once the loop answers')
})

test('a port in use is an error event naming the port; the app and the rest run on', async () => {
  const blocker = net.createServer()
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r))
  const port = blocker.address().port
  const errors = []
  shield.on('error', (e) => errors.push(e.message))
  shield.start({ prometheus: { port } })
  assert.equal(shield.running, true)
  await sleep(20)
  blocker.close()
  assert.equal(errors.length, 1)
  assert.match(errors[0], new RegExp(`port ${port}`))
  assert.equal(shield.metricsAddress(), null)
  assert.ok(shield.metrics().includes('process_cpu_seconds_total'))
})

test('options are checked and errors name the path', () => {
  assert.throws(() => shield.start({ prometheus: { port: 'x' } }), { name: 'TypeError', message: /'prometheus\.port'/ })
  assert.throws(() => shield.start({ prometheus: { port: 99999 } }), { name: 'RangeError', message: /'prometheus\.port'/ })
  assert.throws(() => shield.start({ prometheus: { labels: { pid: '1' } } }), /'prometheus\.labels\.pid'/)
  assert.throws(() => shield.start({ prometheus: { pushgateway: { job: 'x' } } }), /'prometheus\.pushgateway\.url'/)
  assert.throws(() => shield.start({ falcon: { step: 'soon' } }), /'falcon\.step'/)
  assert.throws(() => shield.start({ falcon: { url: 'https://x' } }), /'falcon\.url'/)
  assert.throws(() => shield.start({ falcon: { tgas: {} } }), /'falcon\.tgas'/)
})

// ---- Open-Falcon -------------------------------------------------------

const FALCON_KEYS = ['counterType', 'endpoint', 'metric', 'step', 'tags', 'timestamp', 'value']

/** Checks one push body against the agent/transfer contract; returns the items. */
function checkFalconBody(raw, headers, step, endpoint) {
  const problems = []
  if (!(Number(headers['content-length']) > 0)) problems.push('no Content-Length (agent answers 400 body is blank)')
  let items
  try {
    items = JSON.parse(raw)
  } catch {
    throw new Error('body is not JSON')
  }
  if (!Array.isArray(items)) throw new Error('body is not a JSON array')
  if (items.length === 0 || items.length > 500) problems.push(`batch of ${items.length}`)
  // step/timestamp must be JSON integers (no fraction or exponent) or Go's decode rejects the whole batch
  if (/"(step|timestamp)":\s*(-?\d+[.eE]|")/.test(raw)) problems.push('step/timestamp not an integer literal')
  const now = Date.now() / 1000
  for (const it of items) {
    const keys = Object.keys(it).sort()
    if (keys.join() !== FALCON_KEYS.join()) problems.push(`keys ${keys}`)
    if (typeof it.endpoint !== 'string' || it.endpoint === '' || it.endpoint !== endpoint) problems.push(`endpoint ${it.endpoint}`)
    if (typeof it.metric !== 'string' || it.metric === '' || it.metric === 'kernel.hostname') problems.push(`metric ${it.metric}`)
    if (!Number.isInteger(it.timestamp) || Math.abs(it.timestamp - now) > 120) problems.push(`timestamp ${it.timestamp}`)
    if (it.step !== step) problems.push(`step ${it.step}`)
    if (typeof it.value !== 'number' || !Number.isFinite(it.value)) problems.push(`value ${it.value}`)
    if (it.counterType !== 'GAUGE' && it.counterType !== 'COUNTER') problems.push(`counterType ${it.counterType}`)
    if (typeof it.tags !== 'string') problems.push(`tags ${it.tags}`)
    else if (it.tags !== '') {
      const pairs = it.tags.split(',')
      if (!pairs.every((p) => /^[^=,\s]+=[^=,\s]*$/.test(p))) problems.push(`tags format ${it.tags}`)
      const ks = pairs.map((p) => p.split('=')[0])
      if (ks.join() !== [...ks].sort().join() || new Set(ks).size !== ks.length) problems.push(`tags not sorted/unique ${it.tags}`)
    }
    if (Buffer.byteLength(it.metric) + Buffer.byteLength(it.tags) > 510) problems.push(`metric+tags too long ${it.metric}`)
  }
  if (problems.length) throw new Error(`Open-Falcon contract violated: ${problems.slice(0, 5).join('; ')}`)
  return items
}

/** A receiver on 127.0.0.1 speaking like the agent; `mode()` picks ok / 503 / hang. */
async function falconReceiver(step, endpoint, mode = () => 'ok') {
  const pushes = []
  const violations = []
  const hung = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const m = mode()
      if (m === 'hang') {
        hung.push(res)
        return
      }
      try {
        pushes.push(checkFalconBody(Buffer.concat(chunks).toString('utf8'), req.headers, step, endpoint))
      } catch (e) {
        violations.push(e.message)
        res.writeHead(400).end('connot decode body')
        return
      }
      if (m === '503') res.writeHead(503).end('transfer down')
      else res.writeHead(200).end('success')
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${server.address().port}/v1/push`,
    pushes,
    violations,
    close: () => {
      for (const r of hung) r.destroy()
      server.closeAllConnections()
      return new Promise((r) => server.close(r))
    },
  }
}

function pushCounter(name, target) {
  return metricValue(shield.metrics(), name, `target="${target}"`) ?? 0
}

test('Open-Falcon: every payload satisfies the agent contract; names users chart are there', { timeout: 30_000 }, async () => {
  const rx = await falconReceiver(1, 'web-1')
  shield.start({ flushTime: 0.2, falcon: { url: rx.url, step: 1, endpoint: 'web-1', tags: { service: 'api', zone: 'eu 1' } } })
  try {
    await until(() => rx.pushes.length >= 3 && rx.pushes.at(-1).some((i) => i.metric === 'node.heap.used'), 15_000, 'three falcon pushes')
    assert.deepEqual(rx.violations, [])
    const items = rx.pushes.at(-1)
    const by = (m) => items.filter((i) => i.metric === m)
    const heap = by('node.heap.used')[0]
    assert.equal(heap.counterType, 'GAUGE')
    assert.equal(heap.tags, `pid=${process.pid},service=api,type=heap,zone=eu_1`)
    assert.ok(heap.value > 1e6)
    assert.ok(by('node.eventloop.lag.p99')[0].value >= 0)
    assert.equal(by('node.cpu.seconds')[0].counterType, 'COUNTER')
    assert.equal(by('node.gcstats.collections')[0].counterType, 'COUNTER')
    assert.ok(by('node.gcstats.pauseMS').some((i) => i.tags.includes('gctype=minor')))
    assert.ok(by('node.memory.rss')[0].value > 10e6)
    // pushes are about one step apart, with increasing integer timestamps
    const ts = rx.pushes.map((p) => p[0].timestamp)
    assert.ok(ts.every((t, i) => i === 0 || t >= ts[i - 1]))
  } finally {
    shield.stop()
    await rx.close()
  }
})

test('Open-Falcon target down, answering 503, then slow: errors and counters, bounded memory, no loop impact, recovery', { timeout: 60_000 }, async () => {
  const errors = []
  shield.on('error', (e) => errors.push(e.message))
  // 1) nothing listens
  const deadPort = await freePort()
  const f0 = pushCounter('shield_push_failures_total', 'falcon')
  const rss0 = process.memoryUsage().rss
  shield.start({ flushTime: 0.2, falcon: { url: `http://127.0.0.1:${deadPort}/v1/push`, step: 1 } })
  await until(() => errors.some((m) => /falcon push failed/.test(m)), 10_000, "an 'error' for the dead target")
  await sleep(4000)
  const f1 = pushCounter('shield_push_failures_total', 'falcon')
  assert.ok(f1 - f0 >= 2, `failures ${f0} -> ${f1}`)
  assert.ok(errors.length <= 3, `one error per failure streak, not per attempt: ${errors.length}`)
  shield.stop()

  // 2) 503 for a while, then the agent comes back
  let mode = '503'
  const rx = await falconReceiver(1, 'h', () => mode)
  errors.length = 0
  const pushed0 = pushCounter('shield_pushes_total', 'falcon')
  shield.start({ flushTime: 0.2, falcon: { url: rx.url, step: 1, endpoint: 'h' } })
  await until(() => errors.some((m) => /answered 503/.test(m)), 10_000, "an 'error' for 503")
  mode = 'ok'
  await until(() => pushCounter('shield_pushes_total', 'falcon') > pushed0, 15_000, 'recovery after 503')
  assert.deepEqual(rx.violations, [])
  shield.stop()
  await rx.close()

  // 3) an agent that never answers: the client timeout frees the pusher, the loop does not notice
  const slow = await falconReceiver(1, 'h', () => 'hang')
  errors.length = 0
  shield.start({ flushTime: 0.2, falcon: { url: slow.url, step: 1, endpoint: 'h' } })
  const lags = []
  const t0 = Date.now()
  while (Date.now() - t0 < 5000) {
    const a = performance.now()
    await sleep(20)
    lags.push(performance.now() - a - 20)
  }
  await until(() => errors.some((m) => /falcon push failed/.test(m)), 10_000, "an 'error' for the slow agent")
  lags.sort((a, b) => a - b)
  assert.ok(lags[Math.floor(lags.length * 0.99)] < 100, `p99 timer drift ${lags[Math.floor(lags.length * 0.99)]} ms`)
  shield.stop()
  await slow.close()
  const grown = process.memoryUsage().rss - rss0
  assert.ok(grown < 60e6, `rss grew ${grown} bytes across the failure cases`)
})

// ---- Pushgateway ------------------------------------------------------------

test('a real Pushgateway receives the PUT under job/instance/pid (+@base64 labels) and loses the group on stop()', { timeout: 60_000 }, async () => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'shield-pgw-'))
  const gw = startDaemon('prometheus-pushgateway', [`--web.listen-address=127.0.0.1:${port}`])
  const groups = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/metrics`, { signal: AbortSignal.timeout(3000) })
    const j = await r.json()
    return j.data.filter((g) => g.labels.job === 'shield-test')
  }
  try {
    await until(async () => (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok, 20_000, `pushgateway ready (${gw.log().slice(-300)})`)
    const errors = []
    shield.on('error', (e) => errors.push(e.message))
    shield.start({
      flushTime: 0.2,
      prometheus: { labels: { app: 'pg' }, pushgateway: { url: `http://127.0.0.1:${port}`, job: 'shield-test', interval: '300ms', groupingLabels: { path: '/var/tmp' } } },
    })
    const g = await until(async () => {
      const gs = await groups()
      return gs.length === 1 && gs[0].nodejs_heap_size_used_bytes && gs[0]
    }, 20_000, 'the group on the gateway')
    assert.equal(g.labels.pid, String(process.pid))
    assert.equal(g.labels.path, '/var/tmp', '@base64 carried the slash')
    assert.ok(g.labels.instance.length > 0)
    const heap = g.nodejs_heap_size_used_bytes.metrics[0]
    assert.ok(Number(heap.value) > 1e6)
    assert.equal(heap.labels.app, 'pg')
    assert.equal(Number(g.push_failure_time_seconds.metrics[0].value), 0, 'the gateway accepted every push')
    assert.deepEqual(errors, [])
    // the gateway's own /metrics stays consistent with shield's series
    const scrape = await getText(`http://127.0.0.1:${port}/metrics`)
    assert.equal(scrape.status, 200)
    assert.ok(scrape.body.includes('nodejs_heap_size_used_bytes{app="pg",instance='))
    shield.stop()
    assert.deepEqual(await until(async () => (await groups()).length === 0 && [], 10_000, 'the group deleted on stop()'), [])
  } finally {
    gw.kill()
    rmSync(dir, { recursive: true, force: true })
  }
})
