// The frames the worker and the agent inside an execution environment exchange over the
// container's attach stream or the agent's socket (runtimes/agent/main.go holds the other end):
//   1 byte type | 4 bytes payload length (big-endian) | payload
// Length-prefixed, so the function's own output (carried inside 'O' and 'E' payloads) can
// never be mistaken for a frame, and the stream works wherever the engine is (DOCKER_HOST=tcp://…).

/** Worker → agent. */
export const TO_AGENT = { code: "C", invoke: "I" } as const;
/** Agent → worker. */
export const FROM_AGENT = { hello: "H", ready: "R", stdout: "O", stderr: "E", exit: "X", fatal: "F" } as const;

export interface Frame {
  type: string;
  payload: Buffer;
}

const HEADER_BYTES = 5;
/** Larger than any code, payload or capped output the platform allows; a bigger length is a broken stream. */
export const MAX_FRAME_BYTES = 1024 * 1024 * 1024;

export function encodeFrame(type: string, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(type, 0, 1, "latin1");
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** Cuts a byte stream into frames, whatever the chunk boundaries. */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** Frames completed by `chunk`; throws on a length no agent sends (the stream is broken). */
  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    while (this.pendingBytes >= HEADER_BYTES) {
      const buffer = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
      const length = buffer.readUInt32BE(1);
      if (length > MAX_FRAME_BYTES) throw new Error(`agent frame of ${length} bytes: the stream is broken`);
      if (buffer.length < HEADER_BYTES + length) {
        this.pending = [buffer];
        break;
      }
      frames.push({
        type: buffer.toString("latin1", 0, 1),
        payload: buffer.subarray(HEADER_BYTES, HEADER_BYTES + length),
      });
      const rest = buffer.subarray(HEADER_BYTES + length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
    return frames;
  }

  /** Bytes of a frame not complete yet. */
  get buffered(): number {
    return this.pendingBytes;
  }
}
