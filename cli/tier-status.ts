import fs from 'node:fs';
import path from 'node:path';
import type { ChannelCredentials } from '@grpc/grpc-js';
import pg from 'pg';
import { waitForServing } from '../lib/grpc/index.js';

/** What `make run-mesh` writes to <mesh-dir>/run/mesh.json: the global instances and the database nodes. */
interface MeshLayout {
  globals: { name: string; address: string }[];
  postgres?: { nodes: { name: string; address: string }[]; user: string; passwordFile: string };
}

export interface TierStatus {
  globals: { name: string; address: string; serving: boolean }[];
  database?: { name: string; address: string; role: 'primary' | 'standby' | 'down' }[];
}

/** Each global instance's health and, on PostgreSQL, which database node is primary. */
export async function tierStatus(meshDir: string, channelCredentials: ChannelCredentials): Promise<TierStatus | undefined> {
  const file = path.join(meshDir, 'run', 'mesh.json');
  if (!fs.existsSync(file)) return undefined;
  const layout = JSON.parse(fs.readFileSync(file, 'utf8')) as MeshLayout;
  const globals = await Promise.all(
    layout.globals.map(async (g) => ({
      ...g,
      serving: await waitForServing(g.address, { timeoutMs: 1000, channelCredentials }).then(
        () => true,
        () => false,
      ),
    })),
  );
  if (layout.postgres === undefined) return { globals };
  const password = fs.readFileSync(layout.postgres.passwordFile, 'utf8').split('\n')[0]!;
  const user = layout.postgres.user;
  const database = await Promise.all(layout.postgres.nodes.map(async (n) => ({ ...n, role: await roleOf(n.address, user, password) })));
  return { globals, database };
}

async function roleOf(address: string, user: string, password: string): Promise<'primary' | 'standby' | 'down'> {
  const at = address.lastIndexOf(':');
  const client = new pg.Client({ host: address.slice(0, at), port: Number(address.slice(at + 1)), user, password, database: 'postgres', connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
    return rows[0]?.recovery ? 'standby' : 'primary';
  } catch {
    return 'down';
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function formatTierStatus(t: TierStatus): string {
  const lines = t.globals.map((g) => `global ${g.name} ${g.address}: ${g.serving ? 'SERVING' : 'unreachable'}`);
  for (const n of t.database ?? []) lines.push(`database ${n.name} ${n.address}: ${n.role}`);
  return `${lines.join('\n')}\n`;
}
