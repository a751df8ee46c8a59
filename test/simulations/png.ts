import { inflateSync } from 'node:zlib'

/** Width, height and decoded RGBA-or-RGB rows of a non-interlaced 8-bit PNG (what Chromium writes). */
export function decodePng (png: Buffer): { width: number, height: number, channels: number, pixels: Buffer } {
  if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') { throw new Error('not a PNG') }
  let off = 8
  let width = 0; let height = 0; let channels = 0
  const idat: Buffer[] = []
  // Bounded by the file: every chunk advances off by at least 12 bytes.
  while (off + 12 <= png.length) {
    const len = png.readUInt32BE(off)
    const type = png.subarray(off + 4, off + 8).toString('latin1')
    const data = png.subarray(off + 8, off + 8 + len)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4)
      const depth = data[8]; const color = data[9]
      if (depth !== 8 || data[12] !== 0) { throw new Error('only 8-bit non-interlaced PNGs') }
      channels = color === 6 ? 4 : color === 2 ? 3 : color === 0 ? 1 : 0
      if (channels === 0) { throw new Error(`colour type ${color} not handled`) }
    } else if (type === 'IDAT') { idat.push(data) } else if (type === 'IEND') { break }
    off += 12 + len
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const pixels = Buffer.alloc(stride * height)
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]
    const row = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0
      const p = a + b - c
      const pa = Math.abs(p - a); const pb = Math.abs(p - b); const pc = Math.abs(p - c)
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)
      pixels[y * stride + x] = (row[x] + pred) & 255
    }
  }
  return { width, height, channels, pixels }
}

/** Share of pixels that are not the top-left pixel's colour, and how many distinct colours (capped). */
export function pngInk (png: Buffer): { inked: number, colours: number } {
  const { channels, pixels } = decodePng(png)
  const bg = pixels.subarray(0, channels).toString('hex')
  let inked = 0
  const colours = new Set<string>()
  const n = pixels.length / channels
  for (let i = 0; i < n; i++) {
    const px = pixels.subarray(i * channels, (i + 1) * channels).toString('hex')
    if (px !== bg) { inked++ }
    if (colours.size < 1000) { colours.add(px) }
  }
  return { inked: inked / n, colours: colours.size }
}
