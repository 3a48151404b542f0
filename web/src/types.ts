// Shapes of /api/v1 answers (docs/api.md, docs/views.md).
export interface FieldMeta {
  name: string
  type: string
  label: string
  help?: string | null
  required?: boolean
  readonly?: boolean
  computed?: boolean
  target?: string
  inverse?: string
  options?: string[]
  max_length?: number
  precision?: number
  scale?: number
  default?: unknown
}
export interface EntityMeta {
  name: string
  label: string
  title: string | null
  order: string | null
  module: string
  fields: FieldMeta[]
  rights: Record<string, boolean>
}
export interface ArchNode {
  field?: string
  component?: string
  id?: string
  label?: string
  children?: ArchNode[]
  [attr: string]: unknown
}
export interface ViewDef {
  id: string
  entity: string
  type: string
  label: string
  generated: boolean
  arch: ArchNode[]
}
export interface MenuItem {
  id: string
  label: string
  action: string | null
  icon?: string | null
  children: MenuItem[]
}
export interface ActionDef {
  id: string
  label: string
  entity: string
  views: { type: string; id: string }[]
  filter: unknown
  sort: string | null
  limit: number | null
}
export type RecordValue = unknown
export type Rec = Record<string, RecordValue> & { id?: number }
export interface Problem {
  type?: string
  title: string
  status: number
  detail?: string
  errors?: { field: string; message: string }[]
}
