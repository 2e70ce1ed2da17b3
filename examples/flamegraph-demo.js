// Regenerates docs/flamegraph-example.svg: a tiny "server" doing three kinds of work, profiled by shield.
const shield = require('..')
const crypto = require('node:crypto')
function hashPassword(pw) { let h = pw; for (let i = 0; i < 600; i++) h = crypto.createHash('sha256').update(h).digest('hex'); return h }
function renderTemplate(user) { let html = ''; for (let i = 0; i < 400; i++) html += `<li class="row">${user.name} ${i} ${JSON.stringify(user)}</li>`; return html.length }
function parseRequest(body) { let n = 0; for (let i = 0; i < 25; i++) n += JSON.parse(body).items.length; return n }
function handleLogin(req) { return hashPassword(req.pw) }
function handlePage(req) { return renderTemplate({ name: req.user, roles: ['a', 'b'], prefs: { theme: 'dark' } }) }
function handleApi(req) { return parseRequest(req.body) }
const body = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, v: 'x'.repeat(20) })) })
function serve() { handleLogin({ pw: 'secret' }); handlePage({ user: 'ada' }); handlePage({ user: 'bob' }); handleApi({ body }) }
shield.start({ logsPath: require('node:path').join(require('node:os').tmpdir(), 'shield-demo-logs') })
const t = setInterval(() => { for (let i = 0; i < 5; i++) serve() }, 1)
shield.cpuProfile({ duration: 3000 }).then(async (r) => {
  clearInterval(t)
  await shield.flamegraph(r, { output: require('node:path').join(__dirname, '..', 'docs', 'flamegraph-example.svg'), title: 'shield: CPU flame graph of a small demo server (3 s)', width: 1200, minWidth: 0.5 })
  const svg = require('fs').readFileSync(require('node:path').join(__dirname, '..', 'docs', 'flamegraph-example.svg'), 'utf8')
  console.log('wrote docs/flamegraph-example.svg', svg.length, 'bytes')
  shield.stop()
})
