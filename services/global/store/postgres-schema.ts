/**
 * PostgreSQL schema migrations, applied in order under an advisory lock so several global
 * instances starting together run each one exactly once. Never edit a shipped migration.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE revision_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
  );
  CREATE TABLE tenants (
    tenant_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
  );
  CREATE TABLE apps (
    tenant_id                TEXT NOT NULL REFERENCES tenants (tenant_id),
    client_id                TEXT NOT NULL,
    object_id                TEXT NOT NULL UNIQUE,
    name                     TEXT NOT NULL,
    enabled                  INTEGER NOT NULL DEFAULT 1,
    created_at_ms            BIGINT NOT NULL,
    posture_changed_at_ms    BIGINT NOT NULL DEFAULT 0,
    last_authenticated_at_ms BIGINT NOT NULL DEFAULT 0,
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
    not_before      BIGINT NOT NULL DEFAULT 0,
    not_after       BIGINT NOT NULL DEFAULT 0,
    created_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, key_id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES apps (tenant_id, client_id)
  );
  CREATE TABLE resources (
    tenant_id     TEXT NOT NULL REFERENCES tenants (tenant_id),
    identifier    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
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
    granted_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, resource, role),
    FOREIGN KEY (tenant_id, client_id) REFERENCES apps (tenant_id, client_id),
    FOREIGN KEY (tenant_id, resource, role) REFERENCES resource_roles (tenant_id, identifier, role)
  );
  CREATE TABLE usage (
    tenant_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    region          TEXT NOT NULL,
    last_used_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, region)
  );
  CREATE INDEX usage_by_region ON usage (region, last_used_at_ms DESC);
  CREATE TABLE signing_keys (
    kid                 TEXT PRIMARY KEY,
    domain              TEXT NOT NULL,
    public_jwk_json     TEXT NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    retired_at_ms       BIGINT NOT NULL DEFAULT 0,
    registered_revision BIGINT NOT NULL
  );
  CREATE TABLE change_log (
    revision        BIGINT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('identity', 'identity_removed', 'tenant', 'signing_keys')),
    tenant_id       TEXT NOT NULL DEFAULT '',
    client_id       TEXT NOT NULL DEFAULT '',
    committed_at_ms BIGINT NOT NULL
  );
  CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
  );
  INSERT INTO meta (key, value) VALUES ('compacted_through', '0');
  INSERT INTO revision_counter (id, value) VALUES (1, 0);
  `,
  // Per-jti replay refusal of client assertions, for one application or a whole tenant.
  `
  ALTER TABLE tenants ADD COLUMN refuse_assertion_reuse INTEGER NOT NULL DEFAULT 0 CHECK (refuse_assertion_reuse IN (0, 1));
  ALTER TABLE apps ADD COLUMN refuse_assertion_reuse INTEGER NOT NULL DEFAULT 0 CHECK (refuse_assertion_reuse IN (0, 1));
  `,
];
