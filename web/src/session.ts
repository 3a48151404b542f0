// The session: tokens from /auth/login, refreshed before they expire, revoked on logout.
import { defineStore } from 'pinia'
import { api, ApiError, useTokens } from './api'
import type { ActionDef, EntityMeta, MenuItem, ViewDef } from './types'
import { router } from './router'

interface Tokens {
  access_token: string
  refresh_token: string
  expires_in: number
}

const KEY = 'keel.session'

// A field without a label of its own is labelled by its name: show "Unit price", not "unit_price".
export function humanise(meta: EntityMeta): EntityMeta {
  for (const f of meta.fields)
    if (!f.label || f.label === f.name) {
      const words = f.name.replace(/_/g, ' ')
      f.label = words.charAt(0).toUpperCase() + words.slice(1)
    }
  return meta
}
let timer: ReturnType<typeof setTimeout> | undefined
// The metadata of every entity the caller may read: one request per session (and per module
// change), shared by concurrent callers.
let entitiesLoading: Promise<void> | null = null

export const useSession = defineStore('session', {
  state: () => ({
    access: null as string | null,
    refreshToken: null as string | null,
    expiresAt: 0,
    login: '' as string,
    menus: [] as MenuItem[],
    entities: {} as Record<string, EntityMeta>,
    actions: {} as Record<string, ActionDef>,
    views: {} as Record<string, ViewDef>,
  }),
  actions: {
    restore() {
      const saved = sessionStorage.getItem(KEY)
      if (!saved) return
      try {
        const s = JSON.parse(saved)
        this.access = s.access
        this.refreshToken = s.refreshToken
        this.expiresAt = s.expiresAt
        this.login = s.login
        this.schedule()
      } catch {
        sessionStorage.removeItem(KEY)
      }
    },
    store(t: Tokens) {
      this.access = t.access_token
      this.refreshToken = t.refresh_token
      this.expiresAt = Date.now() + t.expires_in * 1000
      sessionStorage.setItem(
        KEY,
        JSON.stringify({ access: this.access, refreshToken: this.refreshToken, expiresAt: this.expiresAt, login: this.login }),
      )
      this.schedule()
    },
    // Refreshes a minute before expiry (or at 80% of short lifetimes).
    schedule() {
      if (timer) clearTimeout(timer)
      const left = this.expiresAt - Date.now()
      const ahead = Math.min(60_000, left * 0.2)
      timer = setTimeout(() => void this.refresh(), Math.max(1000, left - ahead))
    },
    async signIn(login: string, password: string) {
      const t = await api<Tokens>('POST', '/auth/login', { login, password }, { auth: false })
      this.login = login
      this.store(t)
      await this.loadMenus()
    },
    async refresh(): Promise<boolean> {
      if (!this.refreshToken) return false
      try {
        const t = await api<Tokens>('POST', '/auth/refresh', { refresh_token: this.refreshToken }, { auth: false })
        this.store(t)
        return true
      } catch {
        return false
      }
    },
    async signOut() {
      const refresh = this.refreshToken
      try {
        if (refresh) await api('POST', '/auth/logout', { refresh_token: refresh })
      } catch {
        /* the session ends here either way */
      }
      // Leave the screen first: a screen shown without a token would ask the API and get a 401.
      await router.push({ name: 'login' })
      this.clear()
    },
    clear() {
      if (timer) clearTimeout(timer)
      this.access = null
      this.refreshToken = null
      this.menus = []
      this.entities = {}
      entitiesLoading = null
      this.actions = {}
      this.views = {}
      sessionStorage.removeItem(KEY)
    },
    async loadMenus() {
      const r = await api<{ data: MenuItem[] }>('GET', '/ui/menus')
      this.menus = r.data
    },
    // An entity's metadata, from GET /meta/entities read once: an entity that is not there is
    // one the caller may not read (404 here, without asking the server again).
    async entity(name: string): Promise<EntityMeta> {
      if (!entitiesLoading) {
        const mine: Promise<void> = api<{ data: EntityMeta[] }>('GET', '/meta/entities').then(
          (r) => {
            // Unless the session ended or the modules changed meanwhile.
            if (entitiesLoading !== mine) return
            const all: Record<string, EntityMeta> = {}
            for (const m of r.data) all[m.name] = humanise(m)
            this.entities = all
          },
          (e) => {
            if (entitiesLoading === mine) entitiesLoading = null
            throw e
          },
        )
        entitiesLoading = mine
      }
      await entitiesLoading
      const meta = this.entities[name]
      if (!meta) throw new ApiError({ title: 'Not Found', status: 404, detail: `no entity "${name}" you may read` })
      return meta
    },
    async action(id: string): Promise<ActionDef> {
      // "@entity": the entity's own views (list and form, generated when no module declares
      // them), for screens no module has an action for (users, API keys).
      if (!this.actions[id] && id.startsWith('@')) {
        const meta = await this.entity(id.slice(1))
        this.actions[id] = { id, label: meta.label, entity: meta.name, views: [{ type: 'list', id: '' }, { type: 'form', id: '' }], filter: null, sort: null, limit: null }
      }
      if (!this.actions[id]) this.actions[id] = await api<ActionDef>('GET', `/ui/actions/${encodeURIComponent(id)}`)
      return this.actions[id]
    },
    async view(entity: string, type: string): Promise<ViewDef> {
      const key = `${entity}/${type}`
      if (!this.views[key]) this.views[key] = await api<ViewDef>('GET', `/ui/views/${encodeURIComponent(entity)}/${type}`)
      return this.views[key]
    },
    // After a module change: metadata may differ.
    async reloadMetadata() {
      this.entities = {}
      entitiesLoading = null
      this.actions = {}
      this.views = {}
      await this.loadMenus()
    },
  },
})

export function connectTokens(session: ReturnType<typeof useSession>) {
  useTokens({
    token: () => session.access,
    refresh: () => session.refresh(),
    expired: () => {
      session.clear()
      const here = router.currentRoute.value
      if (here.name !== 'login') void router.push({ name: 'login', query: { next: here.fullPath } })
    },
  })
}
