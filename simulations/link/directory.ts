/**
 * Who is who in a run: node index <-> PeerId, the shard that hosts each node and its memory
 * address. Every shard holds the same directory (the coordinator sends it).
 */
export class Directory {
  readonly peerIds: string[]
  readonly shardOf: number[]
  readonly runTag: string
  private readonly byPeer = new Map<string, number>()

  constructor (runTag: string, peerIds: string[], shardOf: number[]) {
    this.runTag = runTag
    this.peerIds = peerIds
    this.shardOf = shardOf
    peerIds.forEach((p, i) => this.byPeer.set(p, i))
  }

  get size (): number {
    return this.peerIds.length
  }

  indexOf (peerId: string): number | undefined {
    return this.byPeer.get(peerId)
  }

  /** The memory listen address of node `i`; the run tag keeps two runs in one process apart. */
  memoryAddress (i: number): string {
    return `/memory/${this.runTag}-n${i}`
  }

  /** The multiaddr to dial node `i` at, with its PeerId. */
  dialAddress (i: number): string {
    return `${this.memoryAddress(i)}/p2p/${this.peerIds[i]}`
  }
}

/** The PeerId text at the end of a multiaddr string (`.../p2p/<id>`), if any. */
export function peerIdIn (multiaddr: string): string | undefined {
  const at = multiaddr.lastIndexOf('/p2p/')
  if (at < 0) { return undefined }
  const rest = multiaddr.slice(at + 5)
  const slash = rest.indexOf('/')
  return slash < 0 ? rest : rest.slice(0, slash)
}
