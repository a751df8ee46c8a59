// Fails early, with a clear message, when npm scripts are not running on Node >= 22.
// libp2p 3 needs Node 22; the devDependency `node@22` puts a Node 22 first on the PATH of npm scripts.
const [major, minor] = process.versions.node.split('.').map(Number)
// 22.18 is the first Node 22 that runs TypeScript sources without flags.
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(`dadm-mesh needs Node >= 22.18 for its scripts, found ${process.version}. Run \`npm install\` first: it brings node@22 as a devDependency.`)
  process.exit(1)
}
