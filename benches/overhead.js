'use strict'
// Throughput cost of shield on an HTTP hello-world, against no monitoring and
// against prom-client's collectDefaultMetrics() scraped every second.
// Rounds alternate between the modes in one run; wrk (Debian package) drives
// load on 127.0.0.1. Usage: node benches/overhead.js [rounds] [seconds]
const { spawn, spawnSync } = require('node:child_process')
const path = require('node:path')

const rounds = Number(process.argv[2] || 5)
const seconds = Number(process.argv[3] || 5)
const modes = ['baseline', 'shield', 'prom-client']

function startServer(mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), mode], { stdio: ['pipe', 'pipe', 'inherit'] })
    let buf = ''
    const onData = (d) => {
      buf += d
      const m = /ready (\d+)/.exec(buf)
      if (m) {
        child.stdout.off('data', onData)
        resolve({ child, port: Number(m[1]) })
      }
    }
    child.stdout.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${mode} server exited ${code}`)))
  })
}

function ask(child) {
  return new Promise((resolve) => {
    child.stdout.once('data', (d) => resolve(JSON.parse(String(d))))
    child.stdin.write('x\n')
  })
}

function wrk(port) {
  const r = spawnSync('wrk', ['-t1', '-c32', `-d${seconds}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.error}`)
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)[1])
  const reqs = Number(/(\d+) requests in/.exec(r.stdout)[1])
  return { rps, reqs }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main() {
  if (spawnSync('wrk', ['--version']).error) {
    console.error('benches/overhead needs wrk (apt-get install wrk)')
    process.exit(1)
  }
  const results = Object.fromEntries(modes.map((m) => [m, { rps: [], rss: [], cpuPerReq: [] }]))
  for (let r = 0; r < rounds; r++) {
    // Rotate the order so no mode always runs first or last.
    const order = modes.map((_, i) => modes[(i + r) % modes.length])
    for (const mode of order) {
      const { child, port } = await startServer(mode)
      wrk(port) // warm-up, not counted
      const before = await ask(child)
      const { rps, reqs } = wrk(port)
      const after = await ask(child)
      child.kill()
      results[mode].rps.push(rps)
      results[mode].rss.push(after.rss)
      results[mode].cpuPerReq.push((after.cpuUs - before.cpuUs) / reqs)
    }
    process.stderr.write(`round ${r + 1}/${rounds} done\n`)
  }
  const base = results.baseline
  console.log(`\nHTTP hello-world, wrk -t1 -c32 -d${seconds}s, ${rounds} alternating rounds, medians (Node ${process.version})`)
  console.log('mode         req/s     vs baseline  CPU µs/req  RSS MB  RSS delta MB')
  for (const mode of modes) {
    const m = results[mode]
    const rps = median(m.rps)
    const rss = median(m.rss) / 1048576
    console.log(
      `${mode.padEnd(12)} ${rps.toFixed(0).padStart(7)}   ${(rps / median(base.rps)).toFixed(3).padStart(9)}   ${median(m.cpuPerReq).toFixed(2).padStart(9)}  ${rss.toFixed(1).padStart(6)}  ${(rss - median(base.rss) / 1048576).toFixed(1).padStart(11)}`,
    )
  }
  const s = median(results.shield.rps) / median(base.rps)
  const p = median(results['prom-client'].rps) / median(base.rps)
  console.log(`\nshield throughput cost ${((1 - s) * 100).toFixed(2)} %, prom-client ${((1 - p) * 100).toFixed(2)} %; shield/prom-client req/s ratio ${(s / p).toFixed(3)}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
