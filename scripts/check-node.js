// Fails early, with a clear message, when npm scripts are not running on Node >= 22.
// libp2p 3 needs Node 22; the devDependency `node@22` puts a Node 22 first on the PATH of npm scripts.
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.error(`dadm-mesh needs Node >= 22 for its scripts, found ${process.version}. Run \`npm install\` first: it brings node@22 as a devDependency.`)
  process.exit(1)
}
