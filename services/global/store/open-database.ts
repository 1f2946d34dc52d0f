import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Never edit a
 * migration that has shipped: append a new one.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE tenants (
    tenant_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL
  );
  CREATE TABLE apps (
    tenant_id                TEXT NOT NULL REFERENCES tenants (tenant_id),
    client_id                TEXT NOT NULL,
    object_id                TEXT NOT NULL UNIQUE,
    name                     TEXT NOT NULL,
    enabled                  INTEGER NOT NULL DEFAULT 1,
    created_at_ms            INTEGER NOT NULL,
    posture_changed_at_ms    INTEGER NOT NULL DEFAULT 0,
    last_authenticated_at_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, client_id),
    UNIQUE (tenant_id, name)
  );
  CREATE TABLE credentials (
    tenant_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('certificate', 'secret')),
    public_jwk_json TEXT NOT NULL DEFAULT '',
    secret_hash     TEXT NOT NULL DEFAULT '',
    x5t_s256        TEXT NOT NULL DEFAULT '',
    not_before      INTEGER NOT NULL DEFAULT 0,
    not_after       INTEGER NOT NULL DEFAULT 0,
    created_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, client_id, key_id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES apps (tenant_id, client_id)
  );
  CREATE TABLE resources (
    tenant_id     TEXT NOT NULL REFERENCES tenants (tenant_id),
    identifier    TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, identifier)
  );
  CREATE TABLE resource_roles (
    tenant_id  TEXT NOT NULL,
    identifier TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, identifier, role),
    FOREIGN KEY (tenant_id, identifier) REFERENCES resources (tenant_id, identifier)
  );
  CREATE TABLE role_grants (
    tenant_id     TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    resource      TEXT NOT NULL,
    role          TEXT NOT NULL,
    granted_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, client_id, resource, role),
    FOREIGN KEY (tenant_id, client_id) REFERENCES apps (tenant_id, client_id),
    FOREIGN KEY (tenant_id, resource, role) REFERENCES resource_roles (tenant_id, identifier, role)
  );
  CREATE TABLE usage (
    tenant_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    region          TEXT NOT NULL,
    last_used_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, client_id, region)
  );
  CREATE INDEX usage_by_region ON usage (region, last_used_at_ms DESC);
  CREATE TABLE signing_keys (
    kid                 TEXT PRIMARY KEY,
    domain              TEXT NOT NULL,
    public_jwk_json     TEXT NOT NULL,
    created_at_ms       INTEGER NOT NULL,
    retired_at_ms       INTEGER NOT NULL DEFAULT 0,
    registered_revision INTEGER NOT NULL
  );
  -- AUTOINCREMENT: a revision is never reused, even after the newest entries are compacted away.
  CREATE TABLE change_log (
    revision        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL CHECK (kind IN ('identity', 'identity_removed', 'tenant', 'signing_keys')),
    tenant_id       TEXT NOT NULL DEFAULT '',
    client_id       TEXT NOT NULL DEFAULT '',
    committed_at_ms INTEGER NOT NULL
  );
  INSERT INTO meta (key, value) VALUES ('compacted_through', '0');
  `,
  // The revision is a counter row every write transaction updates (the same rule on every
  // engine); it starts from the head the AUTOINCREMENT sequence reached.
  `
  CREATE TABLE revision_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
  );
  INSERT INTO revision_counter (id, value)
    SELECT 1, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'change_log'), 0);
  `,
  // Per-jti replay refusal of client assertions, for one application or a whole tenant.
  `
  ALTER TABLE tenants ADD COLUMN refuse_assertion_reuse INTEGER NOT NULL DEFAULT 0 CHECK (refuse_assertion_reuse IN (0, 1));
  ALTER TABLE apps ADD COLUMN refuse_assertion_reuse INTEGER NOT NULL DEFAULT 0 CHECK (refuse_assertion_reuse IN (0, 1));
  `,
];

/**
 * Opens (creating when missing) the directory database with the durability the admin API
 * promises: WAL journal and synchronous=FULL, so a transaction that returned survives a crash.
 */
export function openDatabase(file: string): Database.Database {
  restrictModes(file);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    // SQLite gives -wal and -shm the database file's mode; files left by an older build are fixed here.
    for (const side of [`${file}-wal`, `${file}-shm`]) if (fs.existsSync(side)) fs.chmodSync(side, 0o600);
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * The directory holds credential hashes: the folder is made 0700 and the database file is created
 * (or narrowed) to 0600 before SQLite opens it, whatever the umask. A shared folder that is not ours
 * (sticky, like /tmp) is left as it is.
 */
function restrictModes(file: string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  if (st.uid === process.getuid?.() && (st.mode & 0o1000) === 0 && (st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
  } finally {
    fs.closeSync(fd);
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`directory schema version ${current} is newer than this build knows (${MIGRATIONS.length})`);
  }
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
