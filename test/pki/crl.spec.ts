import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { expect } from 'aegir/chai'
import { parseCertificate } from '../../src/pki/certificate.ts'
import { parseCrl } from '../../src/pki/crl.ts'
import { makeCrl, meshChain, T0, DAY, thrown } from './fixtures.ts'

describe('crl: CRL model', () => {
  it('parses issuer, times, number and entries keyed like Certificate.serialHex', async () => {
    const { ca, leaf } = await meshChain({ serial: '0a0b' })
    const der = await makeCrl({ issuer: ca, crlNumber: 7, revoked: [{ serial: '0a0b', reason: x509.X509CrlReason.superseded }] })
    const crl = parseCrl(der)
    expect(crl.version).to.equal(2)
    expect(crl.issuer.key).to.equal(parseCertificate(ca.der).subject.key)
    expect(crl.crlNumber).to.equal(7n)
    expect(crl.thisUpdate).to.equal(T0.getTime() - DAY)
    expect(crl.nextUpdate).to.equal(T0.getTime() + 7 * DAY)
    const serial = parseCertificate(leaf.der).serialHex
    expect(serial).to.equal('a0b')
    expect(crl.revoked.get(serial)?.reason).to.equal('superseded')
    expect(crl.unknownCriticalExtensions).to.deep.equal([])
    expect(crl.hasIssuingDistributionPoint).to.equal(false)
    expect(crl.deltaCrlIndicator).to.equal(undefined)
  })

  it('records a critical cRLNumber and unknown critical extensions instead of guessing', async () => {
    const { ca } = await meshChain()
    expect(parseCrl(await makeCrl({ issuer: ca, critical: true })).crlNumberCritical).to.equal(true)
    expect(parseCrl(await makeCrl({ issuer: ca, crlNumber: null })).crlNumber).to.equal(undefined)
  })

  it('refuses trailing data and truncation', async () => {
    const { ca } = await meshChain()
    const der = await makeCrl({ issuer: ca })
    expect(thrown(() => parseCrl(Uint8Array.from([...der, 1])))).to.include({ name: 'EncodingError', code: 'TRAILING_DATA' })
    expect(thrown(() => parseCrl(der.subarray(0, 20)))).to.include({ name: 'EncodingError', code: 'TRUNCATED_DER' })
  })
})
