// The search view's inputs become the REST API's filter language (docs/api.md "Filters").
import type { ArchNode, FieldMeta } from './types'

export interface SearchState {
  // Text typed in the search box, matched against every searchable text field.
  text: string
  // Per-field values chosen in the search panel (field name -> value as typed).
  fields: Record<string, string>
}

const TEXT_TYPES = new Set(['string', 'text', 'email', 'url'])

function likeEscape(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`)
}

// One field's condition for a value typed by the user, or null when it cannot apply.
export function fieldCondition(field: FieldMeta, value: string, titleOf?: (target: string) => string | null): object | null {
  const v = value.trim()
  if (v === '') return null
  switch (field.type) {
    case 'string':
    case 'text':
    case 'email':
    case 'url':
      return { [field.name]: { ilike: `%${likeEscape(v)}%` } }
    case 'many2one': {
      const title = (titleOf && field.target && titleOf(field.target)) || 'name'
      if (/^\d+$/.test(v)) return { [field.name]: { eq: Number(v) } }
      return { [`${field.name}.${title}`]: { ilike: `%${likeEscape(v)}%` } }
    }
    case 'selection':
    case 'date':
    case 'datetime':
      return { [field.name]: { eq: v } }
    case 'decimal':
      // Exact: the text goes as it was typed.
      return /^-?\d+(\.\d+)?$/.test(v) ? { [field.name]: { eq: v } } : null
    case 'integer':
    case 'bigint':
      return /^-?\d+$/.test(v) ? { [field.name]: { eq: Number(v) } } : null
    case 'boolean':
      return { [field.name]: { eq: v === 'true' || v === 'yes' || v === '1' } }
    default:
      return null
  }
}

// The fields a search view offers (arch order), with their metadata.
export function searchFields(arch: ArchNode[], fields: FieldMeta[]): FieldMeta[] {
  const byName = new Map(fields.map((f) => [f.name, f]))
  const out: FieldMeta[] = []
  const walk = (nodes: ArchNode[]) => {
    for (const n of nodes) {
      if (n.field && byName.has(n.field)) out.push(byName.get(n.field)!)
      if (n.children && !n.field) walk(n.children)
    }
  }
  walk(arch)
  return out
}

// Combines the action's filter, the search box and the per-field values: all must hold; the
// search box matches any text (or many2one title) field of the search view.
export function buildFilter(
  actionFilter: unknown,
  state: SearchState,
  fields: FieldMeta[],
  titleOf?: (target: string) => string | null,
): object | null {
  const all: object[] = []
  if (actionFilter && typeof actionFilter === 'object' && Object.keys(actionFilter).length) all.push(actionFilter as object)
  const text = state.text.trim()
  if (text) {
    const any = fields
      .filter((f) => TEXT_TYPES.has(f.type) || f.type === 'many2one')
      .map((f) => fieldCondition(f, text, titleOf))
      .filter((c): c is object => c !== null)
    if (any.length === 1) all.push(any[0])
    else if (any.length > 1) all.push({ or: any })
  }
  for (const f of fields) {
    const value = state.fields[f.name]
    if (value === undefined) continue
    const c = fieldCondition(f, value, titleOf)
    if (c) all.push(c)
  }
  if (all.length === 0) return null
  if (all.length === 1) return all[0]
  return { and: all }
}
