import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** File name of the agent's socket inside its directory. */
export const AGENT_SOCKET_NAME = 'agent.sock';

/** Mode of the socket: the agent's user and group may connect, nobody else. */
export const AGENT_SOCKET_MODE = 0o660;

/** Mode of a socket directory the agent creates. */
export const AGENT_SOCKET_DIR_MODE = 0o750;

/** Longest path a Unix socket address holds on Linux (sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH = 107;

/** Whether something accepts connections on `socket` now. */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(socket);
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', () => resolve(false));
  });
}

/**
 * Makes `dir` ready for the agent's socket and returns the socket's path: the directory is
 * created with mode 0750 when missing (an existing one keeps its owner and mode); a socket left by
 * an agent that is gone is removed; a live one, or another kind of file there, is an error.
 */
export async function prepareAgentSocket(dir: string): Promise<string> {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: AGENT_SOCKET_DIR_MODE });
    chmodSync(dir, AGENT_SOCKET_DIR_MODE);
  }
  const socket = path.resolve(dir, AGENT_SOCKET_NAME);
  const stat = lstatSync(socket, { throwIfNoEntry: false });
  if (stat !== undefined) {
    if (!stat.isSocket()) throw new Error(`${socket} exists and is not a socket`);
    if (await answers(socket)) throw new Error(`another identity agent serves on ${socket}`);
    unlinkSync(socket);
  }
  return socket;
}

/** Gives the bound socket its mode (the umask decided the one it was created with). */
export function restrictAgentSocket(socket: string): void {
  chmodSync(socket, AGENT_SOCKET_MODE);
}
