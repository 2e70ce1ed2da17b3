// pm2 in cluster mode with shield attached to every worker, no code change:
//   pm2 start examples/ecosystem.config.js
// Each process gets its own shield (labelled by pid). For Prometheus, give each
// process its own port (NODE_APP_INSTANCE is pm2's 0-based instance number) or
// push to a Pushgateway (the grouping key carries the pid).
module.exports = {
  apps: [
    {
      name: 'api',
      script: './server.js',
      exec_mode: 'cluster',
      instances: 2,
      node_args: '-r shield/register',
      env: {
        SHIELD_FLUSH_TIME: '3',
        SHIELD_THRESHOLDS: 'eventLoopLagP99=200ms,heapUsedRatio=0.85,for=30s',
        SHIELD_LOGS_PATH: '/var/log/api/shield',
        // 9464 + instance number: set per instance by pm2's `increment_var`.
        SHIELD_PROMETHEUS_PORT: '9464',
      },
      increment_var: 'SHIELD_PROMETHEUS_PORT',
    },
  ],
}
