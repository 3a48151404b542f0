// What a form edits: the record's draft, messages per field, and one2many lines.
import type { ArchNode, EntityMeta, Rec } from './types'
import type { InjectionKey } from 'vue'

export interface LineState {
  field: string
  inverse: string
  meta: EntityMeta
  nodes: ArchNode[]
  rows: (Rec & { _key: number })[]
  removed: number[]
  errors: string[]
}
export interface FormContext {
  meta: EntityMeta
  draft: Rec
  errors: Record<string, string>
  lines: Record<string, LineState>
  titleOf: (entity: string) => string
  editable: boolean
  busy: boolean
  // Runs a form button (buttons.ts): saves pending edits, acts, reads the record again.
  press: (node: ArchNode) => Promise<void>
}
export const FORM: InjectionKey<FormContext> = Symbol('form')

// The body of a create or update: changed fields (all set ones for a create), many2one as ids,
// one2many left to the lines, computed and readonly fields left out. Decimals go as strings.
export function recordBody(meta: EntityMeta, draft: Rec, original: Rec | null): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  for (const f of meta.fields) {
    if (f.computed || f.readonly || f.type === 'one2many') continue
    if (!(f.name in draft)) continue
    let v = draft[f.name]
    if (f.type === 'many2one' && v && typeof v === 'object') v = (v as { id: number }).id
    let was = original ? original[f.name] : undefined
    if (f.type === 'many2one' && was && typeof was === 'object') was = (was as { id: number }).id
    if (original && JSON.stringify(v) === JSON.stringify(was)) continue
    if (!original && (v === null || v === undefined || v === '')) continue
    body[f.name] = v === '' ? null : v
  }
  return body
}
