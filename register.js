'use strict'
// Zero-code attach: `node -r shield/register app.js` or
// NODE_OPTIONS="-r shield/register". Options come from shield.config.js or
// .shieldrc.json (nearest, from the working directory up), then SHIELD_* env
// variables on top. Monitoring must never stop an app from booting: any
// problem prints one line and the app starts unwatched.
const fs = require('node:fs')
const path = require('node:path')

/** Env variable → option path, and how to read the value. */
const ENV = [
  ['SHIELD_LOGS_PATH', 'logsPath', 'string'],
  ['SHIELD_FLUSH_TIME', 'flushTime', 'number'],
  ['SHIELD_SAMPLING_TIME', 'samplingTime', 'number'],
  ['SHIELD_CACHE_MAX_LIMIT', 'cacheMaxLimit', 'number'],
  ['SHIELD_COOLDOWN', 'cooldown', 'duration'],
  ['SHIELD_WINDOW', 'window', 'duration'],
  ['SHIELD_THRESHOLDS', 'thresholds', 'pairs'],
  ['SHIELD_PROMETHEUS_PORT', 'prometheus.port', 'number'],
  ['SHIELD_PROMETHEUS_HOST', 'prometheus.host', 'string'],
  ['SHIELD_FALCON_URL', 'falcon.url', 'string'],
  ['SHIELD_ACTIONS', 'actions', 'list'],
  ['SHIELD_STALL_THRESHOLD', 'stall.threshold', 'duration'],
]

// '200ms' stays a string; '42' becomes 42.
const scalar = (v) => (/^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v.trim())

function parseEnv(name, raw, kind) {
  switch (kind) {
    case 'string':
      return raw
    case 'number': {
      const n = Number(raw)
      if (raw.trim() === '' || !Number.isFinite(n)) throw new TypeError(`${name} must be a number (got ${JSON.stringify(raw)})`)
      return n
    }
    case 'duration':
      return scalar(raw)
    case 'list':
      // "cpuprofile,flamegraph"
      return raw.split(',').map((x) => x.trim()).filter(Boolean)
    case 'pairs': {
      // JSON, or "eventLoopLagP99=200ms,rss=1.5GB,for=10s"
      if (raw.trim().startsWith('{')) return JSON.parse(raw)
      const out = {}
      for (const piece of raw.split(',').filter((p) => p.trim())) {
        const eq = piece.indexOf('=')
        if (eq < 0) throw new TypeError(`${name} must be key=value pairs separated by commas (got ${JSON.stringify(piece)})`)
        out[piece.slice(0, eq).trim()] = scalar(piece.slice(eq + 1))
      }
      return out
    }
  }
}

function setPath(obj, dotted, value) {
  const keys = dotted.split('.')
  let o = obj
  for (const k of keys.slice(0, -1)) o = o[k] = o[k] && typeof o[k] === 'object' ? o[k] : {}
  o[keys[keys.length - 1]] = value
}

function findConfigFile(from) {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    for (const name of ['shield.config.js', '.shieldrc.json']) {
      const file = path.join(dir, name)
      if (fs.existsSync(file)) return file
    }
    if (path.dirname(dir) === dir) return null
  }
}

function loadOptions(env = process.env, cwd = process.cwd()) {
  let options = {}
  const file = env.SHIELD_CONFIG || findConfigFile(cwd)
  if (file) {
    try {
      options = file.endsWith('.json') ? JSON.parse(fs.readFileSync(file, 'utf8')) : require(path.resolve(file))
    } catch (err) {
      throw new Error(`cannot read ${file}: ${err.message}`)
    }
    if (!options || typeof options !== 'object') throw new TypeError(`${file} must export an options object`)
  }
  if (env.SHIELD_OPTIONS) options = { ...options, ...JSON.parse(env.SHIELD_OPTIONS) }
  for (const [name, dotted, kind] of ENV) {
    if (env[name] !== undefined && env[name] !== '') setPath(options, dotted, parseEnv(name, env[name], kind))
  }
  return { options, file }
}

function register() {
  if (process.env.SHIELD_DISABLE === '1') return
  try {
    const { options } = loadOptions()
    const shield = require('./index.js')
    if (shield.running) {
      process.emitWarning('shield: already started in this thread; shield/register left it as it is', 'ShieldWarning')
      return
    }
    shield.start(options)
  } catch (err) {
    // One line, and the app boots anyway.
    console.error(`shield: not started (${err.message.replace(/^shield: /, '')})`)
  }
}

register()

module.exports = { loadOptions }
