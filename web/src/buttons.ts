// Form buttons (docs/views.md, "Buttons"): what a `button` node of a form arch does.
//   {component: button, label: Confirm, set: {state: confirmed}, when: {state: [draft]}}
//     PATCHes the record with `set` (the entity's hooks decide whether that is allowed);
//   {component: button, label: Summary, route: "GET /x/sales/orders/{id}/summary"}
//     calls a module's route (`{id}` and `{field}` are taken from the record);
// `when` shows the button only for records matching it, `confirm` asks first.
import type { ArchNode, Rec } from './types'

export type ButtonAction =
  | { kind: 'set'; values: Record<string, unknown> }
  | { kind: 'route'; method: string; path: string }
  | { kind: 'none' }

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])

function scalar(v: unknown): unknown {
  return v && typeof v === 'object' && !Array.isArray(v) && 'id' in (v as object) ? (v as { id: unknown }).id : v
}

// The route's path with `{name}` replaced by the record's values (URL-encoded); null when the
// record lacks one of them.
export function routePath(template: string, record: Rec): string | null {
  let missing = false
  const path = template.replace(/\{([a-z_][a-z0-9_]*)\}/g, (_, name: string) => {
    const v = scalar(record[name])
    if (v === null || v === undefined || v === '') {
      missing = true
      return ''
    }
    return encodeURIComponent(String(v))
  })
  return missing ? null : path
}

export function buttonAction(node: ArchNode, record: Rec): ButtonAction {
  if (node.set && typeof node.set === 'object' && !Array.isArray(node.set)) return { kind: 'set', values: node.set as Record<string, unknown> }
  if (typeof node.route === 'string') {
    const m = /^\s*(?:([A-Za-z]+)\s+)?(\/\S*)\s*$/.exec(node.route)
    if (!m) return { kind: 'none' }
    const method = (m[1] ?? 'POST').toUpperCase()
    if (!METHODS.has(method)) return { kind: 'none' }
    const path = routePath(m[2], record)
    return path === null ? { kind: 'none' } : { kind: 'route', method, path }
  }
  return { kind: 'none' }
}

// Whether a record matches a button's `when`: {field: value | [values] | {eq|ne|in|nin: ..}},
// every field must match. No `when`: always.
export function buttonVisible(node: ArchNode, record: Rec): boolean {
  const when = node.when
  if (!when || typeof when !== 'object' || Array.isArray(when)) return true
  for (const [field, cond] of Object.entries(when as Record<string, unknown>)) {
    const v = scalar(record[field])
    const eq = (a: unknown, b: unknown) => a === b || (a !== null && b !== null && a !== undefined && String(a) === String(b))
    if (Array.isArray(cond)) {
      if (!cond.some((c) => eq(v, c))) return false
    } else if (cond && typeof cond === 'object') {
      for (const [op, arg] of Object.entries(cond as Record<string, unknown>)) {
        const list = Array.isArray(arg) ? arg : [arg]
        if (op === 'eq' && !eq(v, arg)) return false
        if (op === 'ne' && eq(v, arg)) return false
        if (op === 'in' && !list.some((c) => eq(v, c))) return false
        if (op === 'nin' && list.some((c) => eq(v, c))) return false
      }
    } else if (!eq(v, cond)) return false
  }
  return true
}
