import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { api } from '../api'
import { connectTokens, useSession } from '../session'

// The session against a stand-in for the server's /auth routes (fetch), with fake timers.
describe('session', () => {
  const calls: string[] = []
  let refreshes = 0
  beforeEach(() => {
    vi.useFakeTimers()
    setActivePinia(createPinia())
    calls.length = 0
    refreshes = 0
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      const auth = (init.headers as Record<string, string>).Authorization ?? ''
      calls.push(`${init.method} ${url} ${auth}`)
      const json = (status: number, body: unknown) =>
        new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
      if (url.endsWith('/auth/refresh')) {
        refreshes++
        return json(200, { access_token: `access-${refreshes + 1}`, refresh_token: `refresh-${refreshes + 1}`, expires_in: 900 })
      }
      if (url.endsWith('/meta/entities'))
        return json(200, { data: [{ name: 'contact', label: 'Contact', title: 'name', order: null, module: 'contacts', fields: [{ name: 'zip_code', type: 'string', label: 'zip_code' }], rights: { read: true } }] })
      if (url.endsWith('/records/x')) return auth === 'Bearer access-2' ? json(200, { data: [], total: 0 }) : json(401, { title: 'Unauthorized', status: 401 })
      return json(404, { title: 'Not Found', status: 404 })
    })
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
    sessionStorage.clear()
  })

  it('refreshes the access token a minute before it expires', async () => {
    const s = useSession()
    s.store({ access_token: 'access-1', refresh_token: 'refresh-1', expires_in: 900 })
    await vi.advanceTimersByTimeAsync(839_000)
    expect(refreshes).toBe(0)
    await vi.advanceTimersByTimeAsync(2_000)
    expect(refreshes).toBe(1)
    expect(s.access).toBe('access-2')
    expect(JSON.parse(sessionStorage.getItem('keel.session')!).refreshToken).toBe('refresh-2')
  })

  it('a 401 refreshes once and retries with the new token', async () => {
    const s = useSession()
    connectTokens(s)
    s.store({ access_token: 'stale', refresh_token: 'refresh-1', expires_in: 900 })
    const r = await api('GET', '/records/x')
    expect(r).toEqual({ data: [], total: 0 })
    expect(calls).toEqual([
      'GET /api/v1/records/x Bearer stale',
      'POST /api/v1/auth/refresh ',
      'GET /api/v1/records/x Bearer access-2',
    ])
  })
  it('reads the metadata of every entity once; an entity not there is one the caller may not read', async () => {
    const s = useSession()
    s.store({ access_token: 'access-1', refresh_token: 'refresh-1', expires_in: 900 })
    const [a, b] = await Promise.all([s.entity('contact'), s.entity('contact')])
    expect(a).toBe(b)
    expect(a.fields[0].label).toBe('Zip code')
    await expect(s.entity('warehouse')).rejects.toMatchObject({ status: 404 })
    expect(calls.filter((c) => c.includes('/meta/entities')).length).toBe(1)
    await s.reloadMetadata().catch(() => {})
    await s.entity('contact')
    expect(calls.filter((c) => c.includes('/meta/entities')).length).toBe(2)
  })
})
