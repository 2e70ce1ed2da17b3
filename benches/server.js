'use strict'
// HTTP hello-world used by benches/overhead.js, in one of three modes:
//   baseline | shield | prom-client
// Prints "ready <port>" when listening; answers "rss" on stdin with its RSS.
const http = require('node:http')
const mode = process.argv[2] || 'baseline'

if (mode === 'shield') {
  require('..').start({ flushTime: 1 })
} else if (mode === 'prom-client') {
  const client = require('prom-client')
  client.collectDefaultMetrics()
  // What a scrape costs: prom-client collects on the event loop at scrape time.
  setInterval(() => client.register.metrics(), 1000).unref()
}

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' })
  res.end('hello world\n')
})
server.listen(0, '127.0.0.1', () => console.log(`ready ${server.address().port}`))
process.stdin.on('data', () => {
  const cpu = process.cpuUsage()
  console.log(JSON.stringify({ rss: process.memoryUsage.rss(), cpuUs: cpu.user + cpu.system }))
})
