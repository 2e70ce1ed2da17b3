'use strict'
// A sample service under shield. It serves "/" quickly and "/report" slowly
// (a synchronous loop that blocks the event loop, the classic production
// incident). The demo drives its own traffic on 127.0.0.1, prints a usage line
// every flush, and shows the emergency hook firing when /report blocks the loop.
//
//   npm run demo            (about 12 seconds)
const http = require('node:http')
const shield = require('..')

function renderReport(ms) {
  // Stand-in for a big synchronous JSON.stringify / template render.
  const end = Date.now() + ms
  let x = 0
  while (Date.now() < end) x += Math.sqrt(x + 1)
  return x
}

shield.start({
  flushTime: 1,
  cooldown: '5s',
  thresholds: { eventLoopLagMax: '200ms' },
  emergencyAction(history, event) {
    const [b] = event.breaches
    console.log(`\n  !! emergency: ${b.metric} = ${b.value.toFixed(0)} ms (limit ${b.limit} ms); ` +
      `${history.length} usage snapshots in history; blocked ${event.usage.eventLoop.blockedMs.toFixed(0)} ms in the last minute\n`)
  },
})

const mb = (b) => (b / 1048576).toFixed(1)
shield.on('usage', (u) => {
  const lag = u.eventLoop.lag
  console.log(
    `usage  cpu ${(u.cpu ?? 0).toFixed(1).padStart(5)} %  rss ${mb(u.rss)} MB  heap ${mb(u.heap.used)}/${mb(u.heap.limit)} MB  ` +
      `lag p50 ${lag ? lag.p50.toFixed(2) : '-'} p99 ${lag ? lag.p99.toFixed(1) : '-'} max ${lag ? lag.max.toFixed(1) : '-'} ms  ` +
      `elu ${((u.eventLoop.utilization ?? 0) * 100).toFixed(0)} %  gc ${u.gc.count} (${u.gc.pauseMs.toFixed(1)} ms)`,
  )
})

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
  console.log(`demo service on http://127.0.0.1:${port}  (shield flushes every 1 s)\n`)
  const get = (path) =>
    new Promise((resolve) => http.get({ host: '127.0.0.1', port, path }, (r) => r.resume().on('end', resolve)).on('error', resolve))
  const until = (ms) => Date.now() + ms
  // 4 s of normal traffic, 3 s with /report calls mixed in, then 4 s of normal traffic.
  const phases = [
    ['normal traffic', 4000, false],
    ['GET /report blocks the loop', 3000, true],
    ['normal traffic again', 4000, false],
  ]
  for (const [label, ms, slow] of phases) {
    console.log(`-- ${label}`)
    const end = until(ms)
    while (Date.now() < end) {
      await Promise.all(Array.from({ length: 10 }, () => get('/')))
      if (slow) await get('/report')
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  const u = shield.usage()
  console.log(`\nsince start: lag max ${u.eventLoop.lagSinceStart.max.toFixed(0)} ms, ${u.gcTotal.count} GCs, ` +
    `emergencies suppressed by cooldown: ${shield.stats().suppressedEmergencies}`)
  shield.stop()
  server.close()
})
