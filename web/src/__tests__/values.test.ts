import { describe, expect, it } from 'vitest'
import { formatDecimal, isDecimal, localInputToUtc, normaliseDecimal, utcToLocalInput } from '../values'
import { recordBody } from '../form'
import { fieldsParam, isReadonly, isRequired, nextSort, archFields } from '../arch'
import type { EntityMeta } from '../types'

const order: EntityMeta = {
  name: 'sale_order',
  label: 'Sales order',
  title: 'name',
  order: null,
  module: 'sales',
  rights: { read: true, create: true, write: true, delete: true },
  fields: [
    { name: 'name', type: 'string', label: 'Name', required: true },
    { name: 'partner', type: 'many2one', label: 'Customer', target: 'contact', required: true },
    { name: 'lines', type: 'one2many', label: 'Lines', target: 'sale_order_line', inverse: 'order' },
    { name: 'amount', type: 'decimal', label: 'Amount', scale: 2, computed: true },
    { name: 'discount', type: 'decimal', label: 'Discount', scale: 2 },
  ],
}

describe('decimals stay exact strings', () => {
  it('validates and normalises without floats', () => {
    expect(isDecimal('12345678901234567890.12', 2)).toBe(true)
    expect(isDecimal('1.234', 2)).toBe(false)
    expect(normaliseDecimal(' 0,1 ')).toBe('0.1')
    expect(formatDecimal('0.1', 2)).toBe('0.10')
    expect(formatDecimal('12345678901234567890.1', 2)).toBe('12345678901234567890.10')
  })
  it('goes into a body as the typed string', () => {
    const body = recordBody(order, { name: 'SO1', partner: { id: 7, name: 'ACME' }, discount: '0.10', amount: '9.99', lines: [1] }, null)
    expect(body).toEqual({ name: 'SO1', partner: 7, discount: '0.10' })
    expect(JSON.stringify(body)).toContain('"discount":"0.10"')
  })
  it('an update sends only what changed', () => {
    const was = { id: 1, name: 'SO1', partner: { id: 7, name: 'ACME' }, discount: '1.00' }
    expect(recordBody(order, { ...was, discount: '2.00' }, was)).toEqual({ discount: '2.00' })
  })
})

describe('labels', () => {
  it('a field labelled by its name reads as words', async () => {
    const { humanise } = await import('../session')
    const m = humanise({ ...order, fields: [{ name: 'unit_price', type: 'decimal', label: 'unit_price' }, { name: 'partner', type: 'many2one', label: 'Customer' }] })
    expect(m.fields.map((f) => f.label)).toEqual(['Unit price', 'Customer'])
  })
})

describe('datetimes', () => {
  it('round-trip between UTC and the local input', () => {
    const utc = '2026-03-04T10:15:00Z'
    expect(localInputToUtc(utcToLocalInput(utc))).toBe(utc)
  })
})

describe('arch', () => {
  const arch = [
    { component: 'group', children: [{ field: 'name' }, { field: 'partner' }] },
    { component: 'notebook', children: [{ component: 'page', children: [{ field: 'lines', children: [{ field: 'product' }] }] }] },
    { field: 'amount' },
  ]
  it('reads a view in one request, many2one titles expanded', () => {
    expect(archFields(arch).map((n) => n.field)).toEqual(['name', 'partner', 'lines', 'amount'])
    expect(fieldsParam(archFields(arch), order, () => 'name')).toBe('id,name,partner.name,lines,amount')
    // A target the caller may not read is not expanded (its title is '').
    expect(fieldsParam(archFields(arch), order, () => '')).toBe('id,name,partner,lines,amount')
  })
  it('readonly and required from metadata, the arch overriding', () => {
    expect(isReadonly({ field: 'amount' }, order.fields[3])).toBe(true)
    expect(isReadonly({ field: 'name', readonly: true }, order.fields[0])).toBe(true)
    expect(isRequired({ field: 'name' }, order.fields[0])).toBe(true)
    expect(isRequired({ field: 'name', required: false }, order.fields[0])).toBe(false)
  })
  it('header clicks sort ascending then descending', () => {
    expect(nextSort(null, 'date')).toBe('date')
    expect(nextSort('date', 'date')).toBe('-date')
    expect(nextSort('-date', 'date')).toBe('date')
  })
})
