#!/usr/bin/env node
'use strict'
// `npx shield <command> …`: each command is a module in lib/cli exporting run(argv) → exit code.
const commands = {
  heap: () => require('../lib/cli/heap.js'),
}

async function main(argv) {
  const [name, ...rest] = argv
  const load = commands[name]
  if (!load) {
    const msg = `Usage: shield <command> [options]\n\nCommands:\n  heap <snapshot> [<after>]   summarize a heap snapshot, or diff two and name what holds the growth\n`
    ;(name && name !== '-h' && name !== '--help' ? process.stderr : process.stdout).write(
      (name && name !== '-h' && name !== '--help' ? `shield: unknown command '${name}'\n\n` : '') + msg,
    )
    return name && name !== '-h' && name !== '--help' ? 2 : name ? 0 : 2
  }
  return load().run(rest)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    process.stderr.write(`shield: ${err && err.stack ? err.stack : err}\n`)
    process.exitCode = 1
  },
)
