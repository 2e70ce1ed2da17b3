'use strict'
// `shield heap <snapshot> [<after>] [--json] [--top N]`
const { heapSummary, heapDiff, formatSummary, formatDiff } = require('../heap.js')

const USAGE = `Usage: shield heap <snapshot> [<after>] [--json] [--top N]

  With one snapshot: objects by constructor (count, self size, retained size).
  With two: what grew between them, and the objects that hold the growth.

  --json    print the full report as JSON
  --top N   rows and suspects to show (default 20 for a summary, 10 for a diff)
`

async function run(argv, out = process.stdout, err = process.stderr) {
  const files = []
  let json = false
  let top
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--json') json = true
    else if (a === '--top' || a.startsWith('--top=')) {
      const v = a === '--top' ? argv[++i] : a.slice(6)
      top = Number(v)
      if (!Number.isInteger(top) || top < 1) {
        err.write(`shield heap: --top needs a positive integer (got ${v === undefined ? 'nothing' : JSON.stringify(v)})\n`)
        return 2
      }
    } else if (a === '-h' || a === '--help') {
      out.write(USAGE)
      return 0
    } else if (a.startsWith('-')) {
      err.write(`shield heap: unknown option ${a}\n${USAGE}`)
      return 2
    } else files.push(a)
  }
  if (files.length < 1 || files.length > 2) {
    err.write(USAGE)
    return 2
  }
  try {
    if (files.length === 1) {
      const r = await heapSummary(files[0], json && top ? { top } : undefined)
      out.write(json ? JSON.stringify(r, null, 2) + '\n' : formatSummary(r, top || 20))
    } else {
      const r = await heapDiff(files[0], files[1], json && top ? { top } : undefined)
      out.write(json ? JSON.stringify(r, null, 2) + '\n' : formatDiff(r, top || 10))
    }
    return 0
  } catch (e) {
    err.write(`shield heap: ${e && e.message ? e.message.replace(/^shield: /, '') : e}\n`)
    return 1
  }
}

const summary = 'summarize a heap snapshot, or diff two and name what holds the growth'

module.exports = { run, USAGE, summary }
