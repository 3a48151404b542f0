import { describe, expect, it } from 'vitest'
import { buildFilter, fieldCondition, searchFields } from '../search'
import type { FieldMeta } from '../types'

const fields: FieldMeta[] = [
  { name: 'name', type: 'string', label: 'Name' },
  { name: 'partner', type: 'many2one', label: 'Customer', target: 'contact' },
  { name: 'state', type: 'selection', label: 'State', options: ['draft', 'done'] },
  { name: 'amount', type: 'decimal', label: 'Amount', scale: 2 },
  { name: 'date', type: 'date', label: 'Date' },
]

describe('search to filter', () => {
  it('keeps only the search view fields, in arch order', () => {
    const got = searchFields([{ field: 'state' }, { component: 'group', children: [{ field: 'name' }] }, { field: 'nope' }], fields)
    expect(got.map((f) => f.name)).toEqual(['state', 'name'])
  })
  it('matches the search box against text and many2one titles, with the action filter', () => {
    const f = buildFilter({ state: { ne: 'cancelled' } }, { text: 'ac%me', fields: {} }, fields, () => 'name')
    expect(f).toEqual({
      and: [
        { state: { ne: 'cancelled' } },
        { or: [{ name: { ilike: '%ac\\%me%' } }, { 'partner.name': { ilike: '%ac\\%me%' } }] },
      ],
    })
  })
  it('per-field values become exact conditions; decimals stay strings', () => {
    expect(buildFilter(null, { text: '', fields: { state: 'done', amount: '12.50' } }, fields)).toEqual({
      and: [{ state: { eq: 'done' } }, { amount: { eq: '12.50' } }],
    })
    expect(fieldCondition(fields[3], '0.1')).toEqual({ amount: { eq: '0.1' } })
    expect(fieldCondition(fields[3], 'abc')).toBeNull()
  })
  it('no condition at all is no filter', () => {
    expect(buildFilter({}, { text: '  ', fields: {} }, fields)).toBeNull()
  })
  it('a many2one given an id compares ids', () => {
    expect(fieldCondition(fields[1], '42')).toEqual({ partner: { eq: 42 } })
  })
})
