'use strict'
// Metrics out (Prometheus listener and Pushgateway, Open-Falcon push). All of
// it runs on Rust threads that read the process-wide hub; this file only starts
// and stops it and turns the exporters' failures into 'error' events.
// Loaded on first use: index.js may run without a binary (SHIELD_OPTIONAL=1).
const native = () => require('../binding.js')

function reportAll(s, messages) {
  for (const m of messages) s.report(new Error(m))
}

function start(s) {
  const { prometheus, falcon } = s.options
  if (!prometheus && !falcon) return
  s.exporter = new (native().Exporter)({ prometheus, falcon })
  // e.g. a port in use: reported after start() returns, so a listener attached
  // right after start() still sees it; the app runs on.
  const early = s.exporter.drainErrors()
  if (early.length > 0) process.nextTick(reportAll, s, early)
}

function flush(s) {
  if (s.exporter) reportAll(s, s.exporter.drainErrors())
}

function stop(s) {
  if (!s.exporter) return
  const ex = s.exporter
  s.exporter = null
  ex.stop()
  reportAll(s, ex.drainErrors())
}

/** The exposition text (0.0.4, or OpenMetrics with { openMetrics: true }). */
function metrics(s, opts) {
  const om = !!(opts && opts.openMetrics)
  return s && s.exporter ? s.exporter.metrics(om) : native().metricsText(om)
}

/** `{ host, port }` of the running listener, or null. */
function address(s) {
  return s && s.exporter ? s.exporter.address() : null
}

module.exports = { start, flush, stop, metrics, address }
