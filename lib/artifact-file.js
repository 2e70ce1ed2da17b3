'use strict'
// Writes a small artifact next to the others: created 0600 inside a 0700
// logsPath, named <kind>-<pid>-<thread>-<iso time>.<ext>, written to a temp
// name and renamed so a reader never sees half a file.
const fs = require('node:fs')
const path = require('node:path')
const { threadId } = require('node:worker_threads')

// Same default as the evidence writer (src/evidence.rs): <cwd>/shield-logs,
// so artifacts never land loose in the app's working directory.
function logsDir(s) {
  return path.resolve(s.options.logsPath || path.join(process.cwd(), 'shield-logs'))
}

function writeArtifact(s, kind, ext, text) {
  const dir = logsDir(s)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const file = path.join(dir, `${kind}-${process.pid}-${threadId}-${stamp}.${ext}`)
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' })
  fs.renameSync(tmp, file)
  return file
}

module.exports = { writeArtifact, logsDir }
