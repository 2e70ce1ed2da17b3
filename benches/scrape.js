'use strict'
// What a Prometheus scrape costs the app's event loop: shield (served from a
// Rust thread) vs prom-client's register.metrics() (served by the app), and
// prom-client's cluster AggregatorRegistry with 2 workers; then the app's
// throughput while a scraper hits it every second. Alternating rounds.
//   node benches/scrape.js [scrapes=300] [seconds=5] [rounds=2]
const { spawn } = require('node:child_process')
const path = require('node:path')
const readline = require('node:readline')

const MODES = ['shield', 'prom-client', 'prom-client-cluster']

// ---------------------------------------------------------------- app side
function app(mode) {
  const http = require('node:http')
  const cluster = require('node:cluster')
  const { performance } = require('node:perf_hooks')
  const elu = () => performance.eventLoopUtilization().active
  const appRoute = (req, res) => res.end('ok')
  if (mode === 'prom-client-cluster' && cluster.isPrimary) {
    const client = require('prom-client')
    const agg = new client.AggregatorRegistry()
    const workers = [cluster.fork(), cluster.fork()]
    let ready = 0
    const server = http.createServer(async (req, res) => {
      const text = await agg.clusterMetrics()
      res.setHeader('Content-Type', agg.contentType)
      res.end(text)
    })
    const askWorkers = () =>
      Promise.all(
        workers.map(
          (w) =>
            new Promise((r) => {
              w.once('message', (m) => r(m.elu))
              w.send({ cmd: 'elu' })
            }),
        ),
      )
    cluster.on('message', (w, m) => {
      if (m.cmd === 'listening' && ++ready === 2) {
        server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ metricsPort: server.address().port, appPort: m.port })))
      }
    })
    readline.createInterface({ input: process.stdin }).on('line', async () => {
      const ws = await askWorkers()
      console.log(JSON.stringify({ elu: elu() + ws.reduce((a, b) => a + b, 0) }))
    })
    return
  }
  if (mode === 'prom-client-cluster') {
    const client = require('prom-client')
    new client.AggregatorRegistry() // workers answer the primary only if they construct one
    client.collectDefaultMetrics()
    const s = http.createServer(appRoute).listen(0, '127.0.0.1', () => process.send({ cmd: 'listening', port: s.address().port }))
    process.on('message', (m) => m.cmd === 'elu' && process.send({ elu: elu() }))
    return
  }
  let metricsPort
  let server
  if (mode === 'shield') {
    const shield = require(path.join(__dirname, '..'))
    shield.start({ prometheus: { port: 0 } })
    metricsPort = shield.metricsAddress().port
    server = http.createServer(appRoute)
  } else {
    const client = require('prom-client')
    client.collectDefaultMetrics()
    server = http.createServer(async (req, res) => {
      if (req.url === '/metrics') {
        res.setHeader('Content-Type', client.register.contentType)
        res.end(await client.register.metrics())
      } else appRoute(req, res)
    })
  }
  server.listen(0, '127.0.0.1', () => {
    const appPort = server.address().port
    console.log(JSON.stringify({ metricsPort: metricsPort || appPort, appPort }))
  })
  readline.createInterface({ input: process.stdin }).on('line', () => console.log(JSON.stringify({ elu: elu() })))
}

// ---------------------------------------------------------------- driver side
function startApp(mode) {
  const p = spawn(process.execPath, [__filename, 'app', mode], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = readline.createInterface({ input: p.stdout })
  const queue = []
  const waiters = []
  lines.on('line', (l) => (waiters.length ? waiters.shift()(JSON.parse(l)) : queue.push(JSON.parse(l))))
  const next = () => new Promise((r) => (queue.length ? r(queue.shift()) : waiters.push(r)))
  return {
    next,
    async elu() {
      p.stdin.write('elu\n')
      return (await next()).elu
    },
    kill: () => p.kill('SIGKILL'),
  }
}

async function scrape(url) {
  const r = await fetch(url)
  return (await r.text()).length
}

async function round(mode, scrapes, seconds) {
  const a = startApp(mode)
  const { metricsPort, appPort } = await a.next()
  const url = `http://127.0.0.1:${metricsPort}/metrics`
  for (let i = 0; i < 5; i++) await scrape(url) // warm up
  await new Promise((r) => setTimeout(r, 500))
  const idle0 = await a.elu()
  await new Promise((r) => setTimeout(r, 1000))
  const idle1 = await a.elu()
  const e0 = await a.elu()
  const t0 = performance.now()
  let bytes = 0
  for (let i = 0; i < scrapes; i++) bytes += await scrape(url)
  const wall = performance.now() - t0
  const e1 = await a.elu()
  // the app's own background loop time over the same wall time is not the scrape's
  const background = ((idle1 - idle0) / 1000) * wall
  const perScrape = Math.max(0, e1 - e0 - background) / scrapes

  // throughput of the app route with a 1 s scraper running
  const autocannon = require('autocannon')
  const timer = setInterval(() => scrape(url).catch(() => {}), 1000)
  const res = await autocannon({ url: `http://127.0.0.1:${appPort}/`, connections: 32, duration: seconds })
  clearInterval(timer)
  a.kill()
  return { mode, perScrapeMs: perScrape, bytes: bytes / scrapes, rps: res.requests.average, p99: res.latency.p99 }
}

async function main() {
  const scrapes = Number(process.argv[2] || 300)
  const seconds = Number(process.argv[3] || 5)
  const rounds = Number(process.argv[4] || 2)
  const results = Object.fromEntries(MODES.map((m) => [m, []]))
  for (let r = 0; r < rounds; r++) {
    for (const m of r % 2 ? [...MODES].reverse() : MODES) {
      const x = await round(m, scrapes, seconds)
      results[m].push(x)
      console.log(`round ${r + 1} ${m.padEnd(20)} loop ${x.perScrapeMs.toFixed(3)} ms/scrape  ${Math.round(x.bytes)} B  ${Math.round(x.rps)} req/s  p99 ${x.p99} ms`)
    }
  }
  const avg = (m, k) => results[m].reduce((a, x) => a + x[k], 0) / results[m].length
  console.log('\nsummary (mean of rounds)')
  for (const m of MODES) {
    console.log(`${m.padEnd(20)} event-loop time per scrape ${avg(m, 'perScrapeMs').toFixed(3)} ms   app throughput ${Math.round(avg(m, 'rps'))} req/s   p99 ${avg(m, 'p99').toFixed(1)} ms`)
  }
  const s = avg('shield', 'perScrapeMs')
  for (const m of MODES.slice(1)) {
    const ratio = s > 0 ? (avg(m, 'perScrapeMs') / s).toFixed(0) + 'x' : 'shield 0 ms'
    console.log(`loop time per scrape, ${m} / shield: ${ratio};  throughput shield / ${m}: ${(avg('shield', 'rps') / avg(m, 'rps')).toFixed(3)}`)
  }
}

if (process.argv[2] === 'app') app(process.argv[3])
else main().catch((e) => {
  console.error(e)
  process.exit(1)
})
