import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import FieldWidget from '../components/FieldWidget.vue'
import type { FieldMeta } from '../types'

function widget(field: FieldMeta, modelValue: unknown, extra: Record<string, unknown> = {}) {
  return mount(FieldWidget, { props: { field, modelValue, inputId: `x-${field.name}`, titleOf: () => 'name', ...extra } })
}
const types = ['string', 'text', 'integer', 'bigint', 'decimal', 'float', 'boolean', 'date', 'datetime', 'selection', 'email', 'url', 'json', 'binary']

describe('field widgets', () => {
  it.each(types)('%s: the input is named by the field label', (type) => {
    const w = widget({ name: 'f', type, label: `Label ${type}`, options: ['a', 'b'] }, null)
    const label = w.find('label')
    expect(label.text()).toContain(`Label ${type}`)
    expect(label.attributes('for')).toBe('x-f')
    expect(w.find('#x-f').exists()).toBe(true)
  })
  it('a decimal emits the typed string, never a number', async () => {
    const w = widget({ name: 'price', type: 'decimal', label: 'Price', scale: 2 }, '1.50')
    const input = w.find('input')
    expect((input.element as HTMLInputElement).value).toBe('1.50')
    await input.setValue('12345678901234567.89')
    expect(w.emitted('update:modelValue')!.at(-1)).toEqual(['12345678901234567.89'])
    await input.setValue('1.234')
    expect(w.text()).toContain('at most 2 decimals')
    expect((input.element as HTMLInputElement).value).toBe('1.234') // what was typed stays
  })
  it('a server message shows next to the field', () => {
    const w = widget({ name: 'email', type: 'email', label: 'Email' }, 'x', { error: 'not an email address' })
    expect(w.find('[role=alert]').text()).toBe('not an email address')
  })
  it('a many2one is a combobox', () => {
    const w = widget({ name: 'partner', type: 'many2one', label: 'Customer', target: 'contact' }, { id: 3, name: 'ACME' })
    const input = w.find('input[role=combobox]')
    expect((input.element as HTMLInputElement).value).toBe('ACME')
    expect(input.attributes('id')).toBe('x-partner')
  })
  it('selection lists the options', () => {
    const w = widget({ name: 's', type: 'selection', label: 'State', options: ['draft', 'done'] }, 'done')
    expect(w.findAll('option').map((o) => o.text())).toEqual(['', 'draft', 'done'])
  })
})
