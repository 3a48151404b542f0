// Values between the API and inputs. Decimals stay strings end to end: no parseFloat, no Number.

// A decimal as typed: an optional sign, digits, an optional fraction of at most `scale` digits.
export function isDecimal(text: string, scale?: number): boolean {
  const m = /^-?(\d+)(?:\.(\d*))?$/.exec(text.trim())
  if (!m) return false
  return scale === undefined || (m[2] ?? '').length <= scale
}

// Normalises what was typed ("1,5" -> "1.5", spaces dropped) without going through a float.
export function normaliseDecimal(text: string): string {
  return text.trim().replace(/\s/g, '').replace(',', '.')
}

// Formats a decimal string to `scale` fraction digits by padding or (when only zeros go) trimming.
export function formatDecimal(value: unknown, scale?: number): string {
  if (value === null || value === undefined || value === '') return ''
  const s = String(value)
  if (scale === undefined || !/^-?\d+(\.\d+)?$/.test(s)) return s
  const [int, frac = ''] = s.split('.')
  if (frac.length >= scale) return s
  return `${int}.${frac.padEnd(scale, '0')}`
}

// Datetimes: the API speaks UTC ("2026-01-02T10:00:00Z"); inputs show the browser's time zone.
export function utcToLocalInput(value: unknown): string {
  if (typeof value !== 'string' || !value) return ''
  const d = new Date(value)
  if (isNaN(d.getTime())) return ''
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`
}
export function localInputToUtc(text: string): string | null {
  if (!text) return null
  const d = new Date(text) // a datetime-local value without zone is local time
  if (isNaN(d.getTime())) return null
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
export function formatDatetime(value: unknown): string {
  if (typeof value !== 'string' || !value) return ''
  const d = new Date(value)
  return isNaN(d.getTime()) ? value : d.toLocaleString()
}

export function todayLocal(): string {
  const d = new Date()
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

// A many2one's value as read with fields=partner.name: {id, name} or a bare id.
export function m2oId(value: unknown): number | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'number') return value
  if (typeof value === 'object' && 'id' in (value as object)) return (value as { id: number }).id
  return null
}
export function m2oLabel(value: unknown, title = 'name'): string {
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>
    return String(v[title] ?? v.name ?? `#${v.id}`)
  }
  return value === null || value === undefined ? '' : `#${value}`
}
