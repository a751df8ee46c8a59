import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'

/**
 * Writes a JSON error response straight onto a socket and closes it: for requests the HTTP parser
 * could not read (malformed request line, header overflow, timeout), which never reach fastify's
 * error handler, so that they too leave with the service's `{ error: { code, message } }` body.
 */
export function writeRawJsonError (socket: Socket, err: NodeJS.ErrnoException, status: number, body: unknown): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) { return }
  if (!socket.writable) {
    socket.destroy(err)
    return
  }
  const text = JSON.stringify(body)
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`)
}
