/*
 * A UDP reflector and its client, run inside lab namespaces to check the NATs from outside libp2p:
 *
 *   node lab/udp-probe.ts echo PORT
 *     answers every datagram with the address and port it came from, as JSON
 *   node lab/udp-probe.ts send LOCAL_PORT HOST:PORT...
 *     sends from one socket bound to LOCAL_PORT to each target (three tries, 700 ms apart) and
 *     prints what each target saw as the source: [{ "target", "seen": "ip:port" | null }]
 *   node lab/udp-probe.ts count N HOST:PORT
 *     sends N numbered datagrams 20 ms apart, waits a second for the echoes and prints
 *     { "sent", "answered" } (for the loss rule: one try each, no retries)
 *   node lab/udp-probe.ts natpmp GATEWAY INTERNAL_PORT
 *     asks the gateway for a UDP mapping of INTERNAL_PORT by NAT-PMP (RFC 6886) and prints
 *     { "result", "externalPort" } (result 0 is success), or { "result": null } without an answer
 */
import { createSocket } from 'node:dgram'

const MAX_TARGETS = 16

function echo (port: number): void {
  const sock = createSocket('udp4')
  sock.on('message', (_msg, rinfo) => {
    sock.send(JSON.stringify({ seen: `${rinfo.address}:${rinfo.port}` }), rinfo.port, rinfo.address)
  })
  sock.bind(port, () => { process.stderr.write(`udp-probe: echo on ${port}\n`) })
  process.on('SIGTERM', () => { sock.close(); process.exit(0) })
}

async function send (localPort: number, targets: string[]): Promise<void> {
  const sock = createSocket('udp4')
  await new Promise<void>(resolve => { sock.bind(localPort, resolve) })
  const seen = new Map<string, string>()
  sock.on('message', (msg, rinfo) => {
    try {
      const body = JSON.parse(msg.subarray(0, 256).toString()) as { seen?: unknown }
      if (typeof body.seen === 'string') { seen.set(`${rinfo.address}:${rinfo.port}`, body.seen) }
    } catch {}
  })
  for (let attempt = 0; attempt < 3 && seen.size < targets.length; attempt++) {
    for (const t of targets) {
      if (seen.has(t)) { continue }
      const [host, port] = t.split(':')
      sock.send('probe', Number(port), host)
    }
    await new Promise(resolve => setTimeout(resolve, 700))
  }
  sock.close()
  process.stdout.write(JSON.stringify(targets.map(t => ({ target: t, seen: seen.get(t) ?? null }))) + '\n')
}

const MAX_COUNT = 1000

async function count (n: number, target: string): Promise<void> {
  const sock = createSocket('udp4')
  await new Promise<void>(resolve => { sock.bind(0, resolve) })
  const [host, port] = target.split(':')
  let answered = 0
  sock.on('message', () => { answered++ })
  for (let i = 0; i < n; i++) {
    sock.send(`probe ${i}`, Number(port), host)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  await new Promise(resolve => setTimeout(resolve, 1000))
  sock.close()
  process.stdout.write(JSON.stringify({ sent: n, answered }) + '\n')
}

/** One NAT-PMP "map UDP" request (version 0, opcode 1), one hour, three tries 700 ms apart. */
async function natpmp (gateway: string, internalPort: number): Promise<void> {
  const sock = createSocket('udp4')
  await new Promise<void>(resolve => { sock.bind(0, resolve) })
  const req = Buffer.alloc(12)
  req.writeUInt8(0, 0)
  req.writeUInt8(1, 1)
  req.writeUInt16BE(internalPort, 4)
  req.writeUInt16BE(internalPort, 6)
  req.writeUInt32BE(3600, 8)
  const got: { answer?: { result: number, externalPort: number } } = {}
  sock.on('message', msg => {
    if (msg.length >= 16 && msg.readUInt8(1) === 129) { got.answer = { result: msg.readUInt16BE(2), externalPort: msg.readUInt16BE(10) } }
  })
  for (let attempt = 0; attempt < 3 && got.answer == null; attempt++) {
    sock.send(req, 5351, gateway)
    await new Promise(resolve => setTimeout(resolve, 700))
  }
  sock.close()
  process.stdout.write(JSON.stringify(got.answer ?? { result: null }) + '\n')
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === 'echo' && rest.length === 1) {
  echo(Number(rest[0]))
} else if (mode === 'count' && rest.length === 2 && Number(rest[0]) >= 1 && Number(rest[0]) <= MAX_COUNT) {
  await count(Number(rest[0]), rest[1])
} else if (mode === 'natpmp' && rest.length === 2) {
  await natpmp(rest[0], Number(rest[1]))
} else if (mode === 'send' && rest.length >= 2 && rest.length <= MAX_TARGETS + 1) {
  await send(Number(rest[0]), rest.slice(1))
} else {
  process.stderr.write('usage: udp-probe.ts echo PORT | send LOCAL_PORT HOST:PORT... | count N HOST:PORT | natpmp GATEWAY INTERNAL_PORT\n')
  process.exit(2)
}
