'use strict'
// shield flamegraph: render a .cpuprofile or .heapprofile to an SVG flame graph.

const path = require('node:path')
const { parseArgs } = require('node:util')

const summary = 'render a .cpuprofile/.heapprofile as an SVG flame graph (or a differential one)'
const usage = `usage: shield flamegraph <profile> [-o out.svg] [options]
       shield flamegraph --diff <before> <after> [-o out.svg] [options]

  -o, --output <file>   where to write the SVG ('-' for stdout; default: the
                        profile's name with .svg, or <after>.diff.svg)
      --diff            differential: red where <after> has more, blue where less
      --no-normalize    (with --diff) do not scale <before> to <after>'s total
      --title <text>    title of the graph
      --min-width <px>  leave out frames narrower than this (default 0.1)
      --width <px>      image width (default 1200)
      --reverse         merge stacks from the leaf (who calls the hot function)
      --colors <name>   inferno palette: hot (CPU default), mem (heap default),
                        io, red, green, blue, aqua, yellow, purple, orange, js, ...
      --folded          print folded stacks ('a;b;c weight') instead of an SVG`

function defaultOutput(file, diff) {
  const ext = path.extname(file)
  const base = ext ? file.slice(0, -ext.length) : file
  return `${base}${diff ? '.diff' : ''}.svg`
}

async function run(args) {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        output: { type: 'string', short: 'o' },
        diff: { type: 'boolean' },
        'no-normalize': { type: 'boolean' },
        title: { type: 'string' },
        'min-width': { type: 'string' },
        width: { type: 'string' },
        reverse: { type: 'boolean' },
        colors: { type: 'string' },
        folded: { type: 'boolean' },
      },
    })
  } catch (err) {
    process.stderr.write(`shield flamegraph: ${err.message}\n${usage}\n`)
    return 2
  }
  const { values: v, positionals: files } = parsed
  const want = v.diff ? 2 : 1
  if (files.length !== want) {
    process.stderr.write(`shield flamegraph: expected ${want === 2 ? 'two profiles (before and after)' : 'one profile'}, got ${files.length}\n${usage}\n`)
    return 2
  }
  const shield = require('../../index.js')
  if (v.folded) {
    if (v.diff) {
      process.stderr.write('shield flamegraph: --folded takes one profile\n')
      return 2
    }
    process.stdout.write(await shield.foldStacks(files[0]))
    return 0
  }
  const num = (name) => {
    if (v[name] === undefined) return undefined
    const n = Number(v[name])
    if (!Number.isFinite(n) || n < 0) throw new Error(`shield flamegraph: --${name} must be a number ≥ 0 (got '${v[name]}')`)
    return n
  }
  const opts = { title: v.title, minWidth: num('min-width'), width: num('width'), reverse: v.reverse, colors: v.colors }
  if (v.diff) opts.normalize = !v['no-normalize']
  for (const k of Object.keys(opts)) if (opts[k] === undefined) delete opts[k]
  const input = v.diff ? files[1] : files[0]
  if (v.diff) opts.before = files[0]
  const out = v.output || defaultOutput(input, v.diff)
  try {
    if (out === '-') {
      process.stdout.write(await shield.flamegraph(input, opts))
    } else {
      await shield.flamegraph(input, { ...opts, output: out })
      process.stderr.write(`wrote ${out}\n`)
    }
  } catch (err) {
    process.stderr.write(`${err.message.replace(/^shield: /, 'shield ')}\n`)
    return 1
  }
  return 0
}

module.exports = { summary, usage, run }
