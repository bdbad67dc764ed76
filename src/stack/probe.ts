import { createConnection } from 'node:net';

/** True when something accepts TCP connections on host:port within the timeout. */
export function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (open: boolean): void => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Sends a Kafka ApiVersions v0 request and checks that a Kafka response comes back. */
export function kafkaAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  // Request layout: int32 size | int16 api_key=18 | int16 api_version=0 | int32 correlation_id | int16 client_id length (-1)
  const req = Buffer.alloc(4 + 2 + 2 + 4 + 2);
  req.writeInt32BE(req.length - 4, 0);
  req.writeInt16BE(18, 4);
  req.writeInt16BE(0, 6);
  req.writeInt32BE(0x7265, 8);
  req.writeInt16BE(-1, 12);
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let buf = Buffer.alloc(0);
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write(req));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 8) done(buf.readInt32BE(4) === 0x7265);
    });
    socket.once('error', () => done(false));
    socket.once('end', () => done(false));
  });
}

/** Sends PING (inline command) and expects +PONG, or -NOAUTH from a password-protected server. */
export function redisAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let text = '';
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n')) done(text.startsWith('+PONG') || text.startsWith('-NOAUTH'));
    });
    socket.once('error', () => done(false));
  });
}

/** GET url; true on a 2xx within the timeout. */
export async function httpOk(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

export { sleep } from '../util/sleep.js';
