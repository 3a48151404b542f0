import { describe, expect, it } from 'vitest'
import { buttonAction, buttonVisible, routePath } from '../buttons'

describe('form buttons', () => {
  it('set: a write of the given values', () => {
    expect(buttonAction({ component: 'button', set: { state: 'confirmed' } }, { id: 4 })).toEqual({ kind: 'set', values: { state: 'confirmed' } })
  })
  it('route: method and path with the record values, POST by default', () => {
    expect(buttonAction({ component: 'button', route: 'GET /x/sales/orders/{id}/summary' }, { id: 7 })).toEqual({
      kind: 'route',
      method: 'GET',
      path: '/x/sales/orders/7/summary',
    })
    expect(buttonAction({ component: 'button', route: '/x/m/{partner}/go' }, { id: 1, partner: { id: 9, name: 'A' } })).toEqual({
      kind: 'route',
      method: 'POST',
      path: '/x/m/9/go',
    })
  })
  it('nothing to do: a button without set or route, a bad method, a missing value', () => {
    expect(buttonAction({ component: 'button' }, { id: 1 }).kind).toBe('none')
    expect(buttonAction({ component: 'button', route: 'TRACE /x' }, { id: 1 }).kind).toBe('none')
    expect(buttonAction({ component: 'button', route: '/x/{missing}' }, { id: 1 }).kind).toBe('none')
  })
  it('route values are URL-encoded', () => {
    expect(routePath('/x/{name}', { name: 'a/b c' })).toBe('/x/a%2Fb%20c')
  })
  it('when: a list, a scalar, operators; every field must match', () => {
    const b = (when: unknown) => ({ component: 'button', when })
    expect(buttonVisible(b({ state: ['draft', 'confirmed'] }), { state: 'draft' })).toBe(true)
    expect(buttonVisible(b({ state: ['draft'] }), { state: 'done' })).toBe(false)
    expect(buttonVisible(b({ state: 'done' }), { state: 'done' })).toBe(true)
    expect(buttonVisible(b({ state: { ne: 'done' } }), { state: 'done' })).toBe(false)
    expect(buttonVisible(b({ state: { nin: ['done', 'cancelled'] } }), { state: 'draft' })).toBe(true)
    expect(buttonVisible(b({ state: { in: ['draft'] }, partner: 3 }), { state: 'draft', partner: { id: 4 } })).toBe(false)
    expect(buttonVisible({ component: 'button' }, {})).toBe(true)
  })
})
