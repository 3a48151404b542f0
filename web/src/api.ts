// The only way the client talks to Keel: fetch on /api/v1 with the session's access token.
// A 401 asks the session to refresh once; when that fails, it sends the user to the login page.
import type { Problem } from './types'

export class ApiError extends Error {
  constructor(public problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title)
  }
  get status() {
    return this.problem.status
  }
}

export interface TokenSource {
  token(): string | null
  refresh(): Promise<boolean>
  expired(): void
}

let tokens: TokenSource = { token: () => null, refresh: async () => false, expired: () => {} }
export function useTokens(source: TokenSource) {
  tokens = source
}

// Counts requests (the e2e test reads it to check one request per list page).
export const stats = { requests: 0 }

async function problemOf(res: Response): Promise<Problem> {
  try {
    const body = await res.json()
    if (body && typeof body === 'object' && 'title' in body) return body as Problem
  } catch {
    /* not JSON */
  }
  return { title: res.statusText || 'Error', status: res.status }
}

export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  opts: { auth?: boolean; raw?: boolean; retried?: boolean } = {},
): Promise<T> {
  const headers: Record<string, string> = {}
  const token = opts.auth === false ? null : tokens.token()
  if (token) headers.Authorization = `Bearer ${token}`
  let payload: BodyInit | undefined
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json'
    payload = typeof body === 'string' ? body : JSON.stringify(body)
  }
  stats.requests++
  const res = await fetch(`/api/v1${path}`, { method, headers, body: payload })
  if (res.status === 401 && opts.auth !== false) {
    if (!opts.retried && (await tokens.refresh())) return api<T>(method, path, body, { ...opts, retried: true })
    tokens.expired()
    throw new ApiError(await problemOf(res))
  }
  if (!res.ok) throw new ApiError(await problemOf(res))
  if (res.status === 204) return undefined as T
  if (opts.raw) return (await res.text()) as T
  return (await res.json()) as T
}

// Builds a query string from defined values.
export function qs(params: Record<string, string | number | undefined | null>): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
  return parts.length ? `?${parts.join('&')}` : ''
}
