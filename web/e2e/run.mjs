// End to end in a real browser: Debian's chromium driven by playwright-core, against a real
// `keel serve` (embedded PostgreSQL in a temporary directory, sales installed with demo data).
// Screenshots and measures land in e2e/out/ (or $KEEL_E2E_OUT).
//   node e2e/run.mjs            (needs build/debug/src/keel and web/dist)
import { spawn, execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')
const keel = process.env.KEEL ?? join(repo, 'build/debug/src/keel')
const out = resolve(process.env.KEEL_E2E_OUT ?? join(here, 'out'))
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
const work = mkdtempSync(join(tmpdir(), 'keel-e2e-'))
chmodSync(work, 0o755) // the embedded cluster runs as postgres
const password = 'e2e-Admin-pass-1'
const sellerPassword = 'e2e-Seller-pass-1'
const port = await new Promise((ok) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port
    s.close(() => ok(p))
  })
})
const base = `http://127.0.0.1:${port}`
const env = {
  ...process.env,
  KEEL_ADDONS_PATH: join(repo, 'addons'),
  KEEL_WEB_ROOT: join(repo, 'web/dist'),
  KEEL_LISTEN: `127.0.0.1:${port}`,
  KEEL_ADMIN_PASSWORD: password,
  KEEL_LOG_LEVEL: 'warn',
}
const measures = {}
let server
let context
let failed = false
const consoleErrorsSoFar = []

function step(name) {
  console.log(`e2e: ${name}`)
}
async function api(method, path, token, body) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text ? JSON.parse(text) : null
}
function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`)
}
// Waits until an input (or an element's text) shows `want`.
async function expectValue(locator, want, timeout = 15000) {
  const end = Date.now() + timeout
  let got
  for (;;) {
    got = await locator.evaluate((el) => ('value' in el ? el.value : el.textContent)).catch(() => undefined)
    if (got === want) return
    if (Date.now() > end) throw new Error(`expected ${want}, got ${got}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

try {
  step(`keel in ${work}`)
  execFileSync(keel, ['module', 'install', 'sales', '--demo'], { cwd: work, env, stdio: ['ignore', 'ignore', 'inherit'] })
  server = spawn(keel, ['serve'], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  server.stderr.on('data', (d) => (log += d))
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/api/v1/healthz`)).ok) break
    } catch {
      /* not listening yet */
    }
    if (i > 600 || server.exitCode !== null) throw new Error(`keel serve did not start:\n${log}`)
    await new Promise((r) => setTimeout(r, 100))
  }

  // What the scenario needs, through the API: a customer, two products, 55 orders.
  const { access_token: token } = await api('POST', '/auth/login', null, { login: 'admin', password })
  const stamp = Date.now().toString(36)
  const customer = await api('POST', '/records/contact', token, { name: `E2E Customer ${stamp}` })
  const uom = await api('POST', '/records/uom', token, { name: `e2e-unit-${stamp}` })
  const p1 = await api('POST', '/records/product', token, { name: `E2E Widget ${stamp}`, uom: uom.id, list_price: '10.00' })
  const p2 = await api('POST', '/records/product', token, { name: `E2E Gadget ${stamp}`, uom: uom.id, list_price: '2.50' })
  for (let i = 0; i < 55; i++) await api('POST', '/records/sale_order', token, { name: `E2E-${stamp}-${String(i).padStart(2, '0')}`, partner: customer.id })
  // A salesperson (sales.user: a record rule limits them to the orders they created), created
  // through the API (POST /users hashes the password), with two orders of their own.
  const roles = await api('GET', `/records/base_role?filter=${encodeURIComponent(JSON.stringify({ name: { eq: 'sales.user' } }))}`, token)
  await api('POST', '/users', token, { login: 'seller', name: 'Sam Seller', password: sellerPassword, roles: [roles.data[0].id] })
  const { access_token: sellerToken } = await api('POST', '/auth/login', null, { login: 'seller', password: sellerPassword })
  for (const n of ['A', 'B']) await api('POST', '/records/sale_order', sellerToken, { name: `SELLER-${stamp}-${n}`, partner: customer.id })
  void p1
  void p2

  const profile = mkdtempSync(join(tmpdir(), 'keel-e2e-chromium-'))
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  })
  const page = context.pages()[0] ?? (await context.newPage())
  const consoleErrors = consoleErrorsSoFar
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()))
  page.on('pageerror', (e) => consoleErrors.push(String(e)))
  page.on('dialog', (d) => void d.accept()) // "Give this user a new password?", ...
  const scripts = new Map()
  page.on('response', async (r) => {
    const type = r.request().resourceType()
    if (type === 'script' || type === 'stylesheet') {
      try {
        scripts.set(r.url(), { type, gzip: gzipSync(await r.body()).length })
      } catch {
        /* redirected or gone */
      }
    }
  })
  const failedRequests = []
  page.on('response', (r) => r.status() >= 400 && failedRequests.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`))
  let requests = []
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/')) requests.push(`${r.method()} ${new URL(r.url()).pathname}`)
  })
  const shot = (name) => page.screenshot({ path: join(out, `${name}.png`), fullPage: true })

  step('a deep link before logging in goes to the login page')
  await page.goto(`${base}/a/sales.orders`)
  await page.getByLabel('Login').waitFor()
  await page.waitForLoadState('networkidle')
  const sum = (filter) => [...scripts.values()].filter(filter).reduce((a, s) => a + s.gzip, 0)
  measures.login_js_gzip_bytes = sum((s) => s.type === 'script')
  await shot('01-login')

  step('log in')
  await page.getByLabel('Login').fill('admin')
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('link', { name: 'Orders', exact: true }).waitFor()
  expect(page.url().endsWith('/a/sales.orders'), `back where the user was (${page.url()})`)
  await page.locator('table.list tbody tr').first().waitFor()
  await page.waitForLoadState('networkidle')
  measures.first_screen_js_gzip_bytes = sum((s) => s.type === 'script')
  measures.first_screen_css_gzip_bytes = sum((s) => s.type === 'stylesheet')
  await shot('02-orders')

  step('Sales → Orders: a list of 50 orders, one API request for the page (three times, after a page load each)')
  const samples = []
  for (let i = 0; i < 3; i++) {
    await page.goto(`${base}/`)
    await page.getByRole('link', { name: 'Orders', exact: true }).waitFor()
    await page.waitForLoadState('networkidle')
    requests = []
    const t0 = Date.now()
    await page.getByRole('link', { name: 'Orders', exact: true }).click()
    await page.waitForFunction(() => document.querySelectorAll('table.list tbody tr').length === 50)
    samples.push(Date.now() - t0)
  }
  measures.navigation_to_list_of_50_ms_samples = samples
  measures.navigation_to_list_of_50_ms = [...samples].sort((a, b) => a - b)[1] // the median
  measures.load_average_1min = loadavg()[0]
  measures.api_requests_for_list = requests.filter((r) => r.includes('/records/')).length
  measures.api_requests_all = requests.slice()
  expect(measures.api_requests_for_list === 1, `one records request per list page (${requests.join(', ')})`)
  expect((await page.locator('.pager').innerText()).includes('of '), 'the pager shows the total')

  step('sort by clicking a header, next page, reload keeps them')
  await page.getByRole('button', { name: /Name/ }).first().click()
  await page.waitForURL(/sort=name/)
  await page.getByRole('button', { name: 'Next' }).click()
  await page.waitForURL(/page=2/)
  await page.reload()
  await page.locator('table.list tbody tr').first().waitFor()
  expect(/sort=name/.test(page.url()) && /page=2/.test(page.url()), 'deep link kept on reload')
  await shot('03-orders-sorted-page-2')

  step('create an order: customer from the combobox, two lines')
  await page.goto(`${base}/a/sales.orders/new`)
  await page.getByLabel('Name', { exact: true }).waitFor()
  const orderName = `E2E-NEW-${stamp}`
  await page.getByLabel('Name', { exact: true }).fill(orderName)
  const combo = page.getByRole('combobox', { name: 'Partner' })
  await combo.fill(`E2E Customer ${stamp}`.slice(0, 12))
  await page.getByRole('option', { name: `E2E Customer ${stamp}` }).click()
  await page.getByRole('button', { name: 'Add a line' }).click()
  await page.getByRole('button', { name: 'Add a line' }).click()
  const lines = page.locator('.lines tbody tr')
  const fillLine = async (i, product, qty, price) => {
    const row = lines.nth(i)
    await row.getByRole('combobox', { name: 'Product' }).fill(product.slice(0, 10))
    await page.getByRole('option', { name: product }).click()
    await row.getByLabel('Quantity').fill(qty)
    await row.getByLabel('Unit price').fill(price)
  }
  await fillLine(0, `E2E Widget ${stamp}`, '2', '10.00')
  await fillLine(1, `E2E Gadget ${stamp}`, '3', '2.50')
  await shot('04-order-new')
  await page.getByRole('button', { name: 'Save' }).click()
  await page.waitForURL(/\/a\/sales\.orders\/\d+$/)
  const amount = page.getByLabel('Untaxed amount', { exact: true })
  await expectValue(amount, '27.50')
  await shot('05-order-saved-total')

  step('a validation message next to its field; what was typed stays')
  await page.getByLabel('Name', { exact: true }).fill('')
  await page.getByLabel('Quantity').first().fill('1.2345')
  await page.getByRole('button', { name: 'Save' }).click()
  await page.locator('.field.invalid [role=alert]').first().waitFor()
  const messages = await page.locator('[role=alert]').allInnerTexts()
  measures.validation_messages = messages
  expect(messages.length > 0, 'a validation message is shown')
  expect((await page.getByLabel('Quantity').first().inputValue()) === '1.2345', 'typed input kept')
  await shot('06-validation')
  await page.getByRole('button', { name: 'Discard' }).click()
  await expectValue(page.getByLabel('Name', { exact: true }), orderName)

  step('hot-install sale_stock from the modules screen; its component renders on the order form')
  const orderUrl = page.url()
  await page.getByRole('link', { name: 'Modules' }).click()
  await page.getByRole('button', { name: 'Install sale_stock' }).click()
  await page.getByRole('status').filter({ hasText: 'install:' }).waitFor({ timeout: 120000 })
  await shot('07-modules-installed')
  // Stock for the two products (an order that is done delivers what it sold).
  const location = async (name) => (await api('GET', `/records/stock_location?filter=${encodeURIComponent(JSON.stringify({ name: { eq: name } }))}`, token)).data[0].id
  const [stockLocation, adjustment] = [await location('Stock'), await location('Inventory adjustment')]
  for (const p of [p1, p2]) await api('POST', '/records/stock_move', token, { product: p.id, quantity: '100', from_location: adjustment, to_location: stockLocation, state: 'done' })
  await page.goto(orderUrl)
  await page.locator('[data-component=delivery_badge] .badge').waitFor()
  measures.component_text = await page.locator('[data-component=delivery_badge]').innerText()
  await shot('08-order-with-component')

  step('hot-install sales_discount; 10 units of a line get 10 % off: the total follows')
  await page.getByRole('link', { name: 'Modules' }).click()
  await page.getByRole('button', { name: 'Install sales_discount' }).click()
  await page.getByRole('status').filter({ hasText: 'install:' }).waitFor({ timeout: 120000 })
  await page.getByRole('button', { name: 'Uninstall sales_discount' }).waitFor()
  await shot('09-modules-discount-installed')
  await page.goto(orderUrl)
  await page.getByLabel('Quantity').first().fill('10')
  await page.getByRole('button', { name: 'Save' }).click()
  // 10 × 10.00 − 10 % = 90.00, plus 3 × 2.50 = 7.50
  await expectValue(page.getByLabel('Untaxed amount', { exact: true }), '97.50', 30000)
  measures.discounted_total = '97.50'
  await shot('10-order-discounted-total')

  step('form buttons: Confirm, then Done; a refused step shows the problem')
  await page.getByRole('button', { name: 'Confirm' }).click()
  await page.getByRole('status').filter({ hasText: 'Confirm: done' }).waitFor()
  await page.getByRole('button', { name: 'Done' }).waitFor()
  expect(!(await page.getByRole('button', { name: 'Confirm' }).isVisible()), 'Confirm is gone once confirmed')
  await shot('11-order-confirmed')
  await page.getByRole('button', { name: 'Done' }).click()
  await page.getByRole('status').filter({ hasText: 'Done: done' }).waitFor()
  await expectValue(page.getByLabel('State', { exact: true }).first(), 'done')
  await shot('12-order-done')
  // An order without lines cannot be confirmed: the hook's message is shown.
  const bare = await api('GET', `/records/sale_order?filter=${encodeURIComponent(JSON.stringify({ name: { eq: `E2E-${stamp}-00` } }))}`, token)
  await page.goto(`${base}/a/sales.orders/${bare.data[0].id}`)
  await page.getByRole('button', { name: 'Confirm' }).click()
  await page.locator('.problem').filter({ hasText: 'at least one line' }).waitFor()
  await shot('13-order-confirm-refused')

  step('administration: create a user with a role, reset their password, an API key, deactivate')
  await page.getByRole('link', { name: 'Users' }).click()
  await page.locator('table.list tbody tr', { hasText: 'admin' }).first().waitFor()
  await shot('14-users')
  await page.getByRole('link', { name: 'New' }).click()
  await page.getByLabel('Login', { exact: true }).fill('clerk')
  await page.getByLabel('Name', { exact: true }).fill('Casey Clerk')
  await page.getByRole('combobox', { name: 'Roles' }).fill('sales.us')
  await page.getByRole('option', { name: 'sales.user' }).click()
  await page.locator('.tag', { hasText: 'sales.user' }).waitFor()
  await page.getByRole('button', { name: 'Save' }).click()
  await page.waitForURL(/\/a\/base\.users\/\d+$/)
  await page.getByRole('button', { name: 'Reset password' }).click() // confirmed by the dialog handler
  const clerkPassword = (await page.locator('[data-secret]').innerText()).trim()
  expect(clerkPassword.length >= 8, 'a generated password is shown')
  await shot('15-user-password-reset')
  const clerkLogin = await api('POST', '/auth/login', null, { login: 'clerk', password: clerkPassword })
  const clerkMenus = await api('GET', '/ui/menus', clerkLogin.access_token)
  expect(JSON.stringify(clerkMenus).includes('sales.orders'), 'the role given in the form applies')
  await page.getByRole('button', { name: 'New API key' }).click()
  await page.getByRole('status').filter({ hasText: 'New API key: done' }).waitFor()
  const apiKey = (await page.locator('[data-secret]').innerText()).trim()
  expect((await fetch(`${base}/api/v1/records/sale_order?limit=1`, { headers: { Authorization: `Bearer ${apiKey}` } })).status === 200, 'the API key works')
  await shot('16-user-api-key')
  await page.getByLabel('Active', { exact: true }).uncheck()
  await page.getByRole('button', { name: 'Save' }).click()
  await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
  const refused = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ login: 'clerk', password: clerkPassword }) })
  expect(refused.status === 401, `a deactivated user cannot log in (${refused.status})`)
  await page.getByRole('link', { name: 'API keys' }).click()
  await page.locator('table.list tbody tr', { hasText: 'clerk' }).first().waitFor()
  await shot('17-api-keys')

  step('a phone-sized screen')
  await page.setViewportSize({ width: 390, height: 800 })
  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  await page.locator('table.list tbody tr').first().waitFor()
  await shot('18-phone-orders')
  await page.setViewportSize({ width: 1280, height: 800 })

  step('log out')
  await page.getByRole('button', { name: 'Log out' }).click()
  await page.getByLabel('Login').waitFor()
  await shot('19-logged-out')

  step('a sales user sees only their own orders')
  await page.getByLabel('Login').fill('seller')
  await page.getByLabel('Password').fill(sellerPassword)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('link', { name: 'Orders', exact: true }).click()
  await page.locator('table.list tbody tr').first().waitFor()
  await page.waitForLoadState('networkidle')
  const sellerRows = await page.locator('table.list tbody tr').allInnerTexts()
  measures.seller_rows = sellerRows.length
  expect(sellerRows.length === 2 && sellerRows.every((r) => r.includes(`SELLER-${stamp}-`)), `only the seller's two orders (${sellerRows.join(' | ')})`)
  expect((await page.locator('.pager').innerText()).includes('of 2'), 'the total counts only their orders')
  expect((await page.getByRole('link', { name: 'Modules' }).count()) === 0, 'no module administration for a salesperson')
  await shot('20-seller-orders')
  // Their order opens, though they may not read warehouses (sale_stock's field on the form).
  await page.locator('table.list tbody tr').first().click()
  await expectValue(page.getByLabel('Name', { exact: true }), sellerRows[0].split('\t')[0].trim())
  await shot('21-seller-order')
  await page.getByRole('button', { name: 'Log out' }).click()
  await page.getByLabel('Login').waitFor()
  measures.console_errors = consoleErrors
  measures.failed_requests = failedRequests
  // The only errors the browser may report are the two 422s the scenario provoked.
  expect(consoleErrors.every((e) => e.includes('422')), `no console errors (${consoleErrors.join('; ')})`)
  expect(failedRequests.length === 2 && failedRequests.every((r) => r.startsWith('422 ')), `no failed request but the two 422s (${failedRequests.join('; ')})`)
} catch (e) {
  failed = true
  console.error(e)
  console.error(`console errors so far:\n${consoleErrorsSoFar.join('\n')}`)
  try {
    const page = context?.pages()[0]
    if (page) await page.screenshot({ path: join(out, 'failure.png'), fullPage: true })
  } catch {
    /* no page */
  }
} finally {
  writeFileSync(join(out, 'measures.json'), JSON.stringify(measures, null, 2))
  console.log(JSON.stringify(measures, null, 2))
  await context?.close().catch(() => {})
  if (server && server.exitCode === null) {
    server.kill('SIGTERM')
    await new Promise((r) => server.once('exit', r))
  }
  rmSync(work, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
