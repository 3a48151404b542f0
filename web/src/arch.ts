// Reading merged archs (GET /ui/views): which fields a view shows and how to read them at once.
import type { ArchNode, EntityMeta, FieldMeta } from './types'

export const BUILTIN = new Set(['group', 'notebook', 'page', 'button', 'separator', 'label'])

// The field nodes of an arch at the top level of the view (not those inside a relation's children).
export function archFields(arch: ArchNode[]): ArchNode[] {
  const out: ArchNode[] = []
  const walk = (nodes: ArchNode[]) => {
    for (const n of nodes) {
      if (n.field) out.push(n)
      else if (n.children) walk(n.children)
    }
  }
  walk(arch)
  return out
}

// The `fields=` parameter for reading what a view shows in ONE request: many2one fields are
// expanded to their target's title (`partner.name`), so no request per row is needed.
// `titleOf` answers '' for a target the caller may not read.
export function fieldsParam(nodes: ArchNode[], meta: EntityMeta, titleOf: (entity: string) => string): string {
  const byName = new Map(meta.fields.map((f) => [f.name, f]))
  const out = new Set<string>(['id'])
  for (const n of nodes) {
    const f = byName.get(n.field!)
    if (!f) {
      if (['id', 'created_at', 'updated_at', 'created_by', 'updated_by'].includes(n.field!)) out.add(n.field!)
      continue
    }
    // A target the caller may not read (its title is '') is left as an id: expanding it would
    // make the whole read fail.
    const title = f.type === 'many2one' && f.target ? titleOf(f.target) : ''
    if (title) out.add(`${f.name}.${title}`)
    else out.add(f.name)
  }
  return [...out].join(',')
}

export function fieldOf(meta: EntityMeta, name: string): FieldMeta | undefined {
  return meta.fields.find((f) => f.name === name)
}

// readonly/required: the arch node's attribute wins over the field's metadata; computed fields
// are always readonly.
export function isReadonly(node: ArchNode, field: FieldMeta | undefined): boolean {
  if (!field) return true
  if (field.computed) return true
  if (typeof node.readonly === 'boolean') return node.readonly
  return !!field.readonly
}
export function isRequired(node: ArchNode, field: FieldMeta | undefined): boolean {
  if (!field) return false
  if (typeof node.required === 'boolean') return node.required
  return !!field.required
}

// A list's `sort` parameter after a click on a column header: ascending, then descending.
export function nextSort(current: string | null | undefined, field: string): string {
  if (current === field) return `-${field}`
  return field
}
