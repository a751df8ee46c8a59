import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import { runSimulation } from '../../simulations/coordinator/run.ts'
import { compareRuns } from '../../simulations/output/compare.ts'
import { pngInk } from './png.ts'
import type { RunSummary } from '../../simulations/coordinator/summary-file.ts'

const run = promisify(execFile)
const CHROMIUM = '/usr/bin/chromium'
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const CHART_IDS = ['chart-latency-cdf', 'chart-delivery-over-time', 'chart-revocation-isolation', 'chart-bytes-per-node']

/** Installs Debian's chromium through the project's script when it is missing (as root, as CI runs). */
async function ensureChromium (): Promise<string | undefined> {
  if (existsSync(CHROMIUM)) { return undefined }
  try {
    await run('bash', [join(ROOT, 'scripts', 'install-system-deps.sh')], { timeout: 600_000 })
  } catch (err: any) {
    return `installing chromium failed: ${String(err?.message ?? err).slice(0, 200)}`
  }
  return existsSync(CHROMIUM) ? undefined : 'chromium is not installed and could not be installed (not root, or no package mirror)'
}

/** Headless Chromium screenshot of a local file. */
async function screenshot (html: string, png: string, profile: string): Promise<void> {
  await run(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--window-size=1300,1500', `--screenshot=${png}`, `file://${html}`], { timeout: 90_000 })
}

describe('simulation report', function () {
  this.timeout(300_000)
  let results: string
  let runDir: string
  let summary: RunSummary

  before(async () => {
    results = await mkdtemp(join(tmpdir(), 'dadm-sim-report-'))
    // A revocation run with the baseline: every chart has data (the isolation curve too).
    const r = await runSimulation({ scenario: 'revocation', nodes: 10, shards: 1, durationMs: 5000, baseline: true, seed: 'report', resultsDir: results })
    runDir = r.runDir
    summary = r.summary
  })
  after(async () => { await rm(results, { recursive: true, force: true }) })

  it('report.html is self-contained and holds the four charts as inline SVG with data', async () => {
    const html = await readFile(join(runDir, 'report.html'), 'utf8')
    for (const id of CHART_IDS) { expect(html, id).to.match(new RegExp(`<svg id="${id}"[^>]*>`)) }
    // Nothing to fetch: no script, no stylesheet or image from elsewhere.
    expect(html).to.not.match(/<script|<link |src="http|href="http/)
    // Each chart has drawn marks, not the "no data" placeholder.
    expect((html.match(/class="series"/g) ?? []).length).to.be.at.least(5)
    expect((html.match(/class="bar"/g) ?? []).length).to.equal(2 * summary.nodes)
  })

  it('renders in headless Chromium: the screenshot is not blank', async function () {
    const missing = await ensureChromium()
    // Rule: the screenshot needs a browser; where none is installed and none can be, say so and skip.
    if (missing != null) { process.stderr.write(`      skipped: ${missing}\n`); this.skip() }
    const png = join(results, 'report.png')
    await screenshot(join(runDir, 'report.html'), png, join(results, 'chromium-profile'))
    const ink = pngInk(await readFile(png))
    expect(ink.inked).to.be.greaterThan(0.02)
    // Text, axes and both series colours at least.
    expect(ink.colours).to.be.greaterThan(20)
  })

  it('--compare puts two runs side by side', async () => {
    const { text, file } = await compareRuns(summary, summary, results)
    expect(text).to.include('latency p99 ms')
    const html = await readFile(file, 'utf8')
    for (const id of CHART_IDS) {
      expect(html).to.include(`id="a-${id}"`)
      expect(html).to.include(`id="b-${id}"`)
    }
  })
})
