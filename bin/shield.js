#!/usr/bin/env node
'use strict'
// `shield <command> [args]`: each command is a module lib/cli/<command>.js
// exporting { summary, usage, run(args) → Promise<exit code> }, so a new
// command is one new file.

const fs = require('node:fs')
const path = require('node:path')

const dir = path.join(__dirname, '..', 'lib', 'cli')

function commands() {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => f.slice(0, -3))
      .sort()
  } catch {
    return []
  }
}

function help(out) {
  const lines = ['usage: shield <command> [options]', '', 'commands:']
  for (const c of commands()) {
    let summary = ''
    try {
      summary = require(path.join(dir, c)).summary || ''
    } catch {}
    lines.push(`  ${c.padEnd(12)} ${summary}`)
  }
  lines.push('', "run 'shield <command> --help' for a command's options")
  out.write(lines.join('\n') + '\n')
}

async function main(argv) {
  const [cmd, ...rest] = argv
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    help(cmd ? process.stdout : process.stderr)
    return cmd ? 0 : 2
  }
  if (!/^[a-z][a-z0-9-]*$/.test(cmd) || !commands().includes(cmd)) {
    process.stderr.write(`shield: unknown command '${cmd}'\n`)
    help(process.stderr)
    return 2
  }
  const mod = require(path.join(dir, cmd))
  if (mod.usage && (rest.includes('-h') || rest.includes('--help'))) {
    process.stdout.write(mod.usage + '\n')
    return 0
  }
  return mod.run(rest)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code || 0
  },
  (err) => {
    process.stderr.write(`${err && err.message ? err.message : err}\n`)
    process.exitCode = 1
  },
)
