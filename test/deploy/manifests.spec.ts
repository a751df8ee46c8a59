import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { parseAllDocuments, parseDocument } from 'yaml'
import { checkCommandLine, commandLinesInShell } from './cli-lines.ts'

const run = promisify(execFile)
const DEPLOY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy')

/**
 * Every YAML document of a file; a syntax error or a YAML warning fails the test. `merge`: `<<`
 * merge keys, which compose reads (YAML 1.1) and the YAML 1.2 core schema does not.
 */
async function docs (path: string, merge = false): Promise<any[]> {
  const parsed = parseAllDocuments(await readFile(path, 'utf8'), { strict: true, uniqueKeys: true, merge })
  if (!Array.isArray(parsed)) { throw new Error(`${path}: not a YAML stream`) }
  for (const d of parsed) {
    if (d.errors.length > 0 || d.warnings.length > 0) { throw new Error(`${path}: ${[...d.errors, ...d.warnings].map(e => e.message).join('; ')}`) }
  }
  return parsed.map(d => d.toJS({ maxAliasCount: 100 })).filter(d => d != null)
}

/** The argv after `dadm-mesh` a container runs: its args (through the image's entrypoint), or the command lines of its `sh -c`. */
function containerCommandLines (c: any): string[][] {
  if (Array.isArray(c.command) && c.command[0] === 'sh' && c.command[1] === '-c') { return commandLinesInShell(String(c.command[2])) }
  if (c.command == null && Array.isArray(c.args)) { return [c.args.map(String)] }
  throw new Error(`container ${String(c.name)}: neither args for the entrypoint nor sh -c`)
}

/**
 * The container and Kubernetes deploy files: they parse, the Kubernetes objects have the shape the
 * operations guide describes (bootstrap servers in a StatefulSet behind a headless Service, nodes
 * in a DaemonSet, passphrases from Secrets, probes on /livez and /readyz of the --metrics port,
 * unprivileged containers), and every dadm-mesh command line in them is one the CLI accepts.
 * Images are not built here: no image registry is reachable, so the Dockerfile is checked as text.
 */
describe('deploy: Kubernetes manifests, compose file, Dockerfile', function () {
  this.timeout(60_000)
  let objects: any[]

  before(async () => {
    objects = []
    const dir = join(DEPLOY, 'kubernetes')
    for (const f of (await readdir(dir)).filter(n => n.endsWith('.yaml')).sort()) {
      for (const d of await docs(join(dir, f))) { objects.push({ ...d, file: f }) }
    }
  })

  const find = (kind: string, name: string): any => {
    const o = objects.find(x => x.kind === kind && x.metadata?.name === name)
    if (o == null) { throw new Error(`no ${kind} ${name}`) }
    return o
  }
  const workloads = (): any[] => objects.filter(o => ['StatefulSet', 'DaemonSet', 'Deployment'].includes(o.kind))

  it('every object has apiVersion, kind, a name and the dadm-mesh namespace', () => {
    expect(objects.length).to.be.at.least(9)
    for (const o of objects) {
      expect(o.apiVersion, o.file).to.be.a('string')
      expect(o.kind, o.file).to.be.a('string')
      expect(o.metadata?.name, o.file).to.match(/^[a-z0-9-]+$/)
      if (o.kind !== 'Namespace') { expect(o.metadata.namespace, `${o.kind} ${String(o.metadata.name)}`).to.equal('dadm-mesh') }
    }
  })

  it('bootstrap servers: a StatefulSet whose serviceName is a headless Service selecting its pods', () => {
    const sts = find('StatefulSet', 'dadm-mesh-bootstrap')
    const svc = find('Service', sts.spec.serviceName)
    expect(svc.spec.clusterIP).to.equal('None')
    expect(sts.spec.replicas).to.be.at.least(2)
    expect(sts.spec.selector.matchLabels).to.deep.equal(svc.spec.selector)
    expect(sts.spec.template.metadata.labels).to.include(svc.spec.selector)
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).to.equal('state')
    expect(svc.spec.ports.map((p: any) => p.protocol).sort()).to.deep.equal(['TCP', 'UDP'])
  })

  it('nodes: a DaemonSet running `node start`; the CA: one replica with its own volume', () => {
    const ds = find('DaemonSet', 'dadm-mesh-node')
    expect(ds.spec.template.spec.containers[0].args.slice(0, 2)).to.deep.equal(['node', 'start'])
    const ca = find('StatefulSet', 'dadm-mesh-ca')
    expect(ca.spec.replicas).to.equal(1)
    expect(find('Service', 'dadm-mesh-ca').spec.ports[0].port).to.equal(8443)
  })

  it('every main container is probed on /livez and /readyz at the port its --metrics listens on', () => {
    for (const w of workloads()) {
      for (const c of w.spec.template.spec.containers) {
        const where = `${String(w.metadata.name)}/${String(c.name)}`
        expect(c.livenessProbe?.httpGet?.path, where).to.equal('/livez')
        expect(c.readinessProbe?.httpGet?.path, where).to.equal('/readyz')
        const port = c.ports.find((p: any) => p.name === c.readinessProbe.httpGet.port)
        expect(port, where).to.not.equal(undefined)
        const argv = containerCommandLines(c)[0]
        const metrics = argv[argv.indexOf('--metrics') + 1]
        expect(metrics, where).to.equal(`0.0.0.0:${String(port.containerPort)}`)
      }
    }
  })

  it('passphrases come from the Secret only (secretKeyRef), never as literal values or arguments', () => {
    const secret = find('Secret', 'dadm-mesh-passphrases')
    for (const w of workloads()) {
      const spec = w.spec.template.spec
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const where = `${String(w.metadata.name)}/${String(c.name)}`
        for (const e of c.env ?? []) {
          if (e.name === 'DADM_MESH_PASSPHRASE') {
            expect(e.value, where).to.equal(undefined)
            expect(e.valueFrom.secretKeyRef.name, where).to.equal(secret.metadata.name)
            expect(Object.keys(secret.stringData), where).to.include(e.valueFrom.secretKeyRef.key)
          }
        }
        expect(JSON.stringify([c.args ?? [], c.command ?? []]), where).to.not.match(/--passphrase\b|DADM_MESH_PASSPHRASE=/)
      }
      const usesDadm = spec.containers.some((c: any) => containerCommandLines(c).length > 0)
      expect(usesDadm && spec.containers.every((c: any) => (c.env ?? []).some((e: any) => e.name === 'DADM_MESH_PASSPHRASE')), String(w.metadata.name)).to.equal(true)
    }
  })

  it('containers run unprivileged: non-root, no privilege escalation, all capabilities dropped, read-only root', () => {
    for (const w of workloads()) {
      const spec = w.spec.template.spec
      expect(spec.securityContext.runAsNonRoot, String(w.metadata.name)).to.equal(true)
      expect(spec.securityContext.seccompProfile.type).to.equal('RuntimeDefault')
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const where = `${String(w.metadata.name)}/${String(c.name)}`
        expect(c.securityContext.allowPrivilegeEscalation, where).to.equal(false)
        expect(c.securityContext.readOnlyRootFilesystem, where).to.equal(true)
        expect(c.securityContext.capabilities.drop, where).to.deep.equal(['ALL'])
        // the one root container hands the hostPath to uid 1000 and may do nothing else
        if (c.securityContext.runAsUser === 0) {
          expect(where).to.equal('dadm-mesh-node/state-owner')
          expect(c.securityContext.capabilities.add).to.deep.equal(['CHOWN', 'FOWNER'])
        }
      }
    }
  })

  it('every dadm-mesh command line in the manifests is one the CLI accepts', () => {
    const seen: string[] = []
    for (const w of workloads()) {
      const spec = w.spec.template.spec
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        for (const argv of containerCommandLines(c)) { seen.push(checkCommandLine(argv)) }
      }
    }
    expect(seen).to.include.members(['ca init', 'ca serve', 'node enroll', 'bootstrap-server', 'node start'])
  })

  describe('docker', () => {
    it('compose.yaml runs a CA and three nodes from the image, each with a passphrase secret and a /readyz health check', async () => {
      const [compose] = await docs(join(DEPLOY, 'docker', 'compose.yaml'), true)
      const names = Object.keys(compose.services)
      expect(names).to.deep.equal(['ca', 'node-1', 'node-2', 'node-3'])
      expect(compose.services.ca.build).to.deep.equal({ context: '../..', dockerfile: 'deploy/docker/Dockerfile' })
      for (const n of names) {
        const s = compose.services[n]
        expect(s.image, n).to.equal(compose.services.ca.image)
        expect(s.secrets[0].target, n).to.equal('passphrase')
        expect(Object.keys(compose.secrets), n).to.include(s.secrets[0].source)
        expect(s.healthcheck.test.join(' '), n).to.include('/readyz')
        expect(s.cap_drop, n).to.deep.equal(['ALL'])
        expect(s.read_only, n).to.equal(true)
      }
      expect(names.map(n => compose.services[n].command[0])).to.deep.equal(['compose-ca', 'compose-bootstrap', 'compose-node', 'compose-node'])
      expect(compose.services['node-2'].depends_on.ca.condition).to.equal('service_healthy')
    })

    it('the entrypoint is valid sh, has a branch for each compose role, and its dadm-mesh lines are ones the CLI accepts', async () => {
      const path = join(DEPLOY, 'docker', 'entrypoint.sh')
      await run('sh', ['-n', path])
      const text = await readFile(path, 'utf8')
      for (const role of ['compose-ca', 'compose-bootstrap', 'compose-node']) { expect(text).to.include(`\n  ${role})\n`) }
      const lines = commandLinesInShell(text).map(checkCommandLine)
      expect(lines).to.include.members(['ca init', 'ca token', 'ca serve', 'node enroll', 'bootstrap-server', 'node start'])
    })

    it('the Dockerfile builds on Node 22, runs as the unprivileged `node` user under tini, and exposes the metrics port', async () => {
      const text = await readFile(join(DEPLOY, 'docker', 'Dockerfile'), 'utf8')
      const froms = [...text.matchAll(/^FROM (\S+)/gm)].map(m => m[1])
      expect(froms).to.deep.equal(['node:22-bookworm', 'node:22-bookworm-slim'])
      const users = [...text.matchAll(/^USER (\S+)/gm)].map(m => m[1])
      expect(users[users.length - 1]).to.equal('node')
      expect(text).to.match(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", /m)
      expect(text).to.match(/^EXPOSE .*9464\/tcp/m)
      expect(text).to.include('npm ci')
    })

    it('the YAML check itself refuses a broken file', () => {
      expect(() => parseDocument('a: [1, 2\n', { strict: true }).errors.length).to.not.throw()
      expect(parseDocument('a: [1, 2\n', { strict: true }).errors.length).to.be.greaterThan(0)
      expect(parseDocument('a: 1\na: 2\n', { strict: true, uniqueKeys: true }).errors.length).to.be.greaterThan(0)
    })
  })
})
