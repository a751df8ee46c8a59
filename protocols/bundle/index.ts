/**
 * `/dadm-mesh/bundle/1.0.0`: DTN bundle transfer with custody acknowledgement. This half holds
 * the wire (frames, limits, errors); the engine is `src/dtn` (BundleAgent), and the stream
 * handler that joins them to a mesh node registers with the node's authenticated-peer guard.
 */
export { PROTOCOL as BUNDLE_PROTOCOL, WIRE_VERSION as BUNDLE_WIRE_VERSION, MAX_FRAME_BYTES as BUNDLE_MAX_FRAME_BYTES, FRAME_DEADLINE_MS as BUNDLE_FRAME_DEADLINE_MS } from './constants.ts'
export { RELAY_PROTOCOL as BUNDLE_RELAY_PROTOCOL } from './constants.ts'
export { WINDOW as BUNDLE_WINDOW, WINDOW_BYTES as BUNDLE_WINDOW_BYTES, MAX_ACK_FRAME_BYTES, MAX_READ_BUFFER_BYTES, MAX_FRAMES_PER_STREAM, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS } from './constants.ts'
export { BundleProtocolError } from './errors.ts'
export type { BundleProtocolErrorCode } from './errors.ts'
export { encodeFrame, decodeFrame, isAckCode } from './codec.ts'
export type { AckFrame, BundleFrame, Frame } from './codec.ts'
export { FrameStream, encodeVarint, varintLength } from './frame-stream.ts'
export { BundleService, peekId } from './bundle-service.ts'
export type { BundleNode, BundleServiceInit } from './bundle-service.ts'
