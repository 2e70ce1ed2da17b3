'use strict'
// A sample service under shield. It serves "/" quickly and "/report" slowly
// (a synchronous render that blocks the event loop, the classic production
// incident). The demo drives its own traffic on 127.0.0.1 and shows shield's
// main job: usage every flush, Prometheus metrics served from a Rust thread,
// an emergency when /report blocks the loop — with a CPU profile and its flame
// graph captured for it — and the stuck loop's own stacks and flame graph.
//
//   npm run demo            (about 15 seconds; files go to ./shield-logs)
const http = require('node:http')
const path = require('node:path')
const shield = require('..')

function renderReport(ms) {
  // Stand-in for a big synchronous JSON.stringify / template render.
  const end = Date.now() + ms
  let x = 0
  while (Date.now() < end) x += Math.sqrt(x + 1)
  return x
}

const logsPath = path.resolve(process.env.SHIELD_DEMO_LOGS || 'shield-logs')
shield.start({
  flushTime: 1,
  cooldown: '30s',
  logsPath,
  thresholds: { eventLoopLagMax: '200ms' },
  actions: ['cpuprofile', 'flamegraph'],
  samplingTime: 3,
  stall: { threshold: '250ms' },
  prometheus: { port: 0 },
  emergencyAction(history, event) {
    const why = event.type === 'stall'
      ? `the loop stalled ${event.stall.duration.toFixed(0)} ms`
      : event.breaches.map((b) => `${b.metric} = ${b.value.toFixed(0)} ms (limit ${b.limit} ms)`).join(', ')
    console.log(`\n  !! emergency (${event.type}): ${why}; ${history.length} snapshots in history; ` +
      `captured for it: ${event.artifacts.map((a) => `${a.kind} ${path.relative(process.cwd(), a.path)}`).join(', ') || 'nothing'}\n`)
  },
})

const mb = (b) => (b / 1048576).toFixed(1)
shield.on('usage', (u) => {
  const lag = u.eventLoop.lag
  console.log(
    `usage  cpu ${(u.cpu ?? 0).toFixed(1).padStart(5)} %  rss ${mb(u.rss)} MB  heap ${mb(u.heap.used)} MB  ` +
      `lag p50 ${lag ? lag.p50.toFixed(2) : '-'} p99 ${lag ? lag.p99.toFixed(1) : '-'} max ${lag ? lag.max.toFixed(1) : '-'} ms  ` +
      `elu ${((u.eventLoop.utilization ?? 0) * 100).toFixed(0)} %  gc ${u.gc.count} (${u.gc.pauseMs.toFixed(1)} ms)`,
  )
})
let stalls = 0
shield.on('stall', (e) => {
  if (++stalls > 2) return // the first two tell the story
  const c = e.culprit
  console.log(`\n  !! stall: the loop was stuck ${e.duration.toFixed(0)} ms in ${c ? `${c.functionName} (${path.basename(c.url)}:${c.lineNumber})` : 'unknown code'}; ` +
    `flame graph ${e.flamegraphPath ? path.relative(process.cwd(), e.flamegraphPath) : '-'}\n`)
})
shield.on('error', (e) => console.log(`  shield error: ${e.message}`))

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/report')) {
    renderReport(350)
    res.end('report\n')
  } else {
    res.end(JSON.stringify({ ok: true, items: Array.from({ length: 50 }, (_, i) => ({ i })) }))
  }
})

server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address()
  const metrics = shield.metricsAddress()
  console.log(`demo service on http://127.0.0.1:${port}; shield metrics on http://127.0.0.1:${metrics.port}/metrics; files in ${logsPath}\n`)
  const get = (p, to = port) =>
    new Promise((resolve) => {
      http.get({ host: '127.0.0.1', port: to, path: p, agent: false }, (r) => {
        let body = ''
        r.on('data', (d) => (body += d)).on('end', () => resolve(body))
      }).on('error', () => resolve(''))
    })
  const phases = [
    ['normal traffic', 4000, false],
    ['GET /report blocks the loop', 3000, true],
    ['normal traffic again', 4000, false],
  ]
  for (const [label, ms, slow] of phases) {
    console.log(`-- ${label}`)
    const end = Date.now() + ms
    while (Date.now() < end) {
      await Promise.all(Array.from({ length: 10 }, () => get('/')))
      if (slow) await get('/report')
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  const text = await get('/metrics', metrics.port)
  const pick = /^(nodejs_eventloop_lag_p99_seconds|nodejs_eventloop_lag_max_seconds|nodejs_heap_size_used_bytes|process_resident_memory_bytes|nodejs_gc_duration_seconds_count|shield_stalls_total|shield_emergencies_total)\{.*$/gm
  console.log(`\nGET /metrics (${text.split('\n').length} lines, served by a Rust thread), a few of them:`)
  for (const line of text.match(pick) || []) console.log(`  ${line}`)
  const u = shield.usage()
  console.log(`\nsince start: lag max ${u.eventLoop.lagSinceStart.max.toFixed(0)} ms, ${u.eventLoop.stalls} stalls, ${u.gcTotal.count} GCs; ` +
    `open the .svg files in ${path.relative(process.cwd(), logsPath) || '.'} with a browser`)
  shield.stop()
  server.close()
})
