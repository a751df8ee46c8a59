import { expect } from 'aegir/chai'
import { aduKey, fragmentKey, partKey } from '../../../src/dtn/store/bundle-keys.ts'

/** The documented text form, written the slow way. */
const hex16 = (n: number): string => n.toString(16).padStart(16, '0')
const hexOf = (s: string): string => s === '' ? '-' : Buffer.from(s, 'utf8').toString('hex')

describe('store / bundle keys', function () {
  it('are `<hex source>.<created>.<sequence>[.<offset>]` for every source and number range', () => {
    const sources = ['node-a', '', 'ü\u0000!\xff.', 'x'.repeat(200)]
    const numbers = [0, 1, 0xffff_ffff, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]
    for (const source of sources) {
      for (const createdAt of numbers) {
        for (const sequence of [0, 7, Number.MAX_SAFE_INTEGER]) {
          const id = { source, createdAt, sequence }
          const adu = `${hexOf(source)}.${hex16(createdAt)}.${hex16(sequence)}`
          expect(aduKey(id)).to.equal(adu)
          for (const offset of [0, 65_536, 2 ** 33 + 7]) {
            expect(partKey(id, offset)).to.equal(`${adu}.${hex16(offset)}`)
          }
        }
      }
    }
    expect(fragmentKey(partKey({ source: 'a', createdAt: 1, sequence: 2 }, 3), 4)).to.equal(`61.${hex16(1)}.${hex16(2)}.${hex16(3)}.${hex16(4)}`)
  })

  it('refuses numbers that are not non-negative safe integers (RangeError), never a wrong key', () => {
    const bad: Array<[number, number, number]> = [[-1, 0, 0], [1.5, 0, 0], [0, 2 ** 53, 0], [0, Number.NaN, 0], [0, 0, -1], [0, 0, 0.5], [0, 0, Infinity]]
    for (const [createdAt, sequence, offset] of bad) {
      expect(() => partKey({ source: 'a', createdAt, sequence }, offset)).to.throw(RangeError)
    }
    expect(() => aduKey({ source: 'a', createdAt: -5, sequence: 0 })).to.throw(RangeError)
  })
})
