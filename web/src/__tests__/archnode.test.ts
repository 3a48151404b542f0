import { describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import { reactive } from 'vue'
import ArchNode from '../components/ArchNode.vue'
import { FORM, type FormContext } from '../form'
import type { ArchNode as Node, Rec } from '../types'

// A form button as the arch renderer draws it, in a form context of a record.
function button(node: Node, draft: Rec, press = vi.fn(async () => {})) {
  const form = reactive<FormContext>({
    meta: { name: 'sale_order', label: 'Order', title: 'name', order: null, module: 'sales', fields: [], rights: { update: true } },
    draft,
    errors: {},
    lines: {},
    titleOf: () => 'name',
    editable: true,
    busy: false,
    press,
  }) as FormContext
  const w = mount(ArchNode, { props: { node }, global: { provide: { [FORM as symbol]: form } } })
  return { w, form, press }
}
const confirm: Node = { component: 'button', id: 'confirm', label: 'Confirm', set: { state: 'confirmed' }, when: { state: ['draft'] } }

describe('form buttons in the arch renderer', () => {
  it('a button shows in the states its `when` names, and presses the form', async () => {
    const { w, form, press } = button(confirm, { id: 3, state: 'draft' })
    const b = w.find('button')
    expect(b.text()).toBe('Confirm')
    expect(b.attributes('disabled')).toBeUndefined()
    await b.trigger('click')
    expect(press).toHaveBeenCalledWith(confirm)
    form.draft.state = 'confirmed'
    await w.vm.$nextTick()
    expect(w.find('button').exists()).toBe(false)
  })
  it('is disabled on a record not yet saved, while the form is busy, and when it does nothing', async () => {
    expect(button(confirm, { state: 'draft' }).w.find('button').attributes('disabled')).toBeDefined()
    const { w, form } = button(confirm, { id: 1, state: 'draft' })
    form.busy = true
    await w.vm.$nextTick()
    expect(w.find('button').attributes('disabled')).toBeDefined()
    expect(button({ component: 'button', label: 'Nothing' }, { id: 1 }).w.find('button').attributes('disabled')).toBeDefined()
  })
})
