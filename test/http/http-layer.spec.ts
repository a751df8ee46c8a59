import { readdir, readFile } from 'node:fs/promises'
import { expect } from 'aegir/chai'
import { NODE_API_HTTP_ERRORS, NodeApiError } from '../../src/daemon/api/errors.ts'
import { ENROLLMENT_HTTP_ERRORS } from '../../src/enrollment/error-map.ts'
import { EnrollmentError } from '../../src/enrollment/errors.ts'
import { MeshError } from '../../src/errors.ts'
import { errorCatalogue } from '../../src/http/error-catalogue.ts'
import { classifyError } from '../../src/http/error-handler.ts'
import { parseJsonBody } from '../../src/http/json-body.ts'
import type { ErrorMap } from '../../src/http/error-handler.ts'
import type { JsonRefusal } from '../../src/http/json-body.ts'

const BASE = {
  INVALID_REQUEST: { status: 400, message: 'bad' },
  NOT_FOUND: { status: 404, message: 'none' },
  REQUEST_TIMEOUT: { status: 408, message: 'slow' },
  BODY_TOO_LARGE: { status: 413, message: 'big' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'type' },
  HEADERS_TOO_LARGE: { status: 431, message: 'headers' },
  INTERNAL: { status: 500, message: 'internal error' },
  UNAVAILABLE: { status: 503, message: 'closing' }
}

/** A fastify-shaped error: a library code and status, as the content-type parsers raise them. */
function fastifyError (code: string, statusCode: number): Error {
  return Object.assign(new Error('library message with detail'), { code, statusCode })
}

describe('src/http: one catalogue builder and one error mapper for both services', () => {
  it('a catalogue error takes its message and status from the table only, and is named after its service class', () => {
    const cat = errorCatalogue({ ...BASE, TEAPOT: { status: 418, message: 'short and stout' } })
    class TeaError extends cat.Error { static name = 'TeaError' }
    const err = new TeaError('TEAPOT', { cause: new Error('secret detail') })
    expect(err).to.be.instanceOf(MeshError)
    expect({ name: err.name, code: err.code, message: err.message, status: err.status }).to.deep.equal({ name: 'TeaError', code: 'TEAPOT', message: 'short and stout', status: 418 })
    expect(cat.body('TEAPOT')).to.deep.equal({ error: { code: 'TEAPOT', message: 'short and stout' } })
    expect([cat.isCode('TEAPOT'), cat.isCode('toString'), cat.isCode('__proto__'), cat.isCode(7)]).to.deep.equal([true, false, false, false])
  })

  it('the two services keep their own catalogues: the same code has each service\'s message and class', () => {
    const ca = new EnrollmentError('UNAVAILABLE')
    const api = new NodeApiError('UNAVAILABLE')
    expect([ca.name, ca.message, ca.status]).to.deep.equal(['EnrollmentError', 'the service is shutting down', 503])
    expect([api.name, api.message, api.status]).to.deep.equal(['NodeApiError', 'the node is shutting down', 503])
    expect(ca).to.not.be.instanceOf(NodeApiError)
    expect(classifyError(api, ENROLLMENT_HTTP_ERRORS)).to.equal('INTERNAL')
  })

  it('unreadable JSON is INVALID_JSON for the CA and INVALID_REQUEST for the node API', () => {
    for (const code of ['FST_ERR_CTP_EMPTY_JSON_BODY', 'FST_ERR_CTP_INVALID_JSON_BODY']) {
      expect(classifyError(fastifyError(code, 400), ENROLLMENT_HTTP_ERRORS)).to.equal('INVALID_JSON')
      expect(classifyError(fastifyError(code, 400), NODE_API_HTTP_ERRORS)).to.equal('INVALID_REQUEST')
    }
    expect(classifyError(new SyntaxError('x'), ENROLLMENT_HTTP_ERRORS)).to.equal('INVALID_JSON')
    expect(classifyError(new SyntaxError('x'), NODE_API_HTTP_ERRORS)).to.equal('INTERNAL')
  })

  it('a schema failure takes the code of the first field the service names, else INVALID_REQUEST', () => {
    const missingToken = Object.assign(new Error('x'), { validation: [{ instancePath: '', params: { missingProperty: 'token' } }], statusCode: 400 })
    const badCsr = Object.assign(new Error('x'), { validation: [{ instancePath: '/other' }, { instancePath: '/csr' }], statusCode: 400 })
    const other = Object.assign(new Error('x'), { validation: [{ instancePath: '/ttl' }], statusCode: 400 })
    expect([missingToken, badCsr, other].map(e => classifyError(e, ENROLLMENT_HTTP_ERRORS))).to.deep.equal(['INVALID_TOKEN_FORMAT', 'INVALID_CSR', 'INVALID_REQUEST'])
    expect([missingToken, badCsr, other].map(e => classifyError(e, NODE_API_HTTP_ERRORS))).to.deep.equal(['INVALID_REQUEST', 'INVALID_REQUEST', 'INVALID_REQUEST'])
  })

  it('library errors map by code, then by status; anything else is INTERNAL with no library text', () => {
    const check = <C extends string>(map: ErrorMap<C>): void => {
      expect(classifyError(fastifyError('FST_ERR_CTP_BODY_TOO_LARGE', 413), map)).to.equal('BODY_TOO_LARGE')
      expect(classifyError(fastifyError('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415), map)).to.equal('UNSUPPORTED_MEDIA_TYPE')
      expect(classifyError(fastifyError('SOME_PLUGIN_CODE', 400), map)).to.equal('INVALID_REQUEST')
      expect(classifyError(new TypeError('boom'), map)).to.equal('INTERNAL')
      expect(map.catalogue.body(classifyError(new TypeError('boom at /secret/path'), map))).to.deep.equal({ error: { code: 'INTERNAL', message: 'internal error' } })
    }
    check(ENROLLMENT_HTTP_ERRORS)
    check(NODE_API_HTTP_ERRORS)
  })

  it('the strict JSON parser refuses prototype keys and non-JSON with the two named refusals', () => {
    const refuse = (why: JsonRefusal): Error => new EnrollmentError(why)
    const codeOf = (text: string): string => {
      try {
        parseJsonBody(text, refuse)
        return 'accepted'
      } catch (err) {
        return (err as EnrollmentError).code
      }
    }
    expect(codeOf('{"a":{"__proto__":{"x":1}}}')).to.equal('FORBIDDEN_JSON_KEY')
    expect(codeOf('{"constructor":{"prototype":{}}}')).to.equal('FORBIDDEN_JSON_KEY')
    expect(codeOf('')).to.equal('INVALID_JSON')
    expect(codeOf('{"a":')).to.equal('INVALID_JSON')
    expect(parseJsonBody('{"node_id":"n1"}', refuse)).to.deep.equal({ node_id: 'n1' })
  })

  it('src/http sits at the bottom: it imports only itself, src/errors.ts and packages', async () => {
    const dir = new URL('../../src/http/', import.meta.url)
    const wrong: string[] = []
    for (const name of (await readdir(dir)).filter(n => n.endsWith('.ts'))) {
      const text = await readFile(new URL(name, dir), 'utf8')
      for (const m of text.matchAll(/^(?:import|export)\b[^'"]*from\s+'([^']+)'/gm)) {
        const spec = m[1]
        if (spec.startsWith('.') && !spec.startsWith('./') && spec !== '../errors.ts') { wrong.push(`${name}: ${spec}`) }
      }
    }
    expect(wrong).to.deep.equal([])
  })
})
