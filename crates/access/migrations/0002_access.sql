-- The user directory: a token's subject mapped to a role and, for advisors and supervisors, to their record in the
-- portfolio. Subjects listed in RECAUDO_ADMIN_SUBJECTS are admins by configuration and are not stored here.
CREATE TABLE access.users (
    subject       TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'supervisor', 'advisor', 'auditor')),
    advisor_id    UUID,
    supervisor_id UUID,
    updated_at    TIMESTAMPTZ NOT NULL,
    updated_by    TEXT NOT NULL,
    CHECK ((role = 'advisor') = (advisor_id IS NOT NULL)),
    CHECK ((role = 'supervisor') = (supervisor_id IS NOT NULL))
);

-- Credentials of internal systems: only the SHA-256 of the secret is kept (the secret is 256 random bits, so a
-- plain hash is enough; nothing to stretch).
CREATE TABLE access.service_credentials (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL,
    scopes        TEXT[] NOT NULL,
    secret_sha256 BYTEA NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT NOT NULL,
    revoked_at    TIMESTAMPTZ,
    revoked_by    TEXT,
    last_used_at  TIMESTAMPTZ
);

-- Browser sign-in: a login in flight (authorization-code flow with PKCE), then a session behind an HttpOnly cookie.
CREATE TABLE access.logins (
    state         TEXT PRIMARY KEY,
    code_verifier TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE TABLE access.sessions (
    id_sha256   BYTEA PRIMARY KEY,
    subject     TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_subject ON access.sessions (subject);

-- The development identity provider's signing key (only with RECAUDO_DEV_IDP=on).
CREATE TABLE access.dev_idp_key (
    kid         TEXT PRIMARY KEY,
    pkcs8_pem   TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Who is assigned to whom, learned from portfolio's events: the data scope decisions are made from.
CREATE TABLE access.accounts (
    credit_id        TEXT PRIMARY KEY,
    debtor_id        TEXT NOT NULL,
    advisor_id       UUID,
    snapshot_version BIGINT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX accounts_debtor ON access.accounts (debtor_id);
CREATE INDEX accounts_advisor ON access.accounts (advisor_id);
CREATE TABLE access.advisors (
    advisor_id    UUID PRIMARY KEY,
    supervisor_id UUID,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX advisors_supervisor ON access.advisors (supervisor_id);

-- The audit trail: append-only. Rows leave only through the retention purge, which marks its own transaction.
CREATE TABLE access.audit_log (
    id            BIGSERIAL PRIMARY KEY,
    at            TIMESTAMPTZ NOT NULL,
    actor         TEXT NOT NULL,
    actor_kind    TEXT NOT NULL,
    role          TEXT,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT,
    ip            TEXT,
    forwarded_for TEXT,
    user_agent    TEXT,
    details       JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON access.audit_log (at);
CREATE INDEX audit_log_actor ON access.audit_log (actor, at);
CREATE INDEX audit_log_resource ON access.audit_log (resource_type, resource_id, at);

CREATE FUNCTION access.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('recaudo.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'access.audit_log is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON access.audit_log
    FOR EACH ROW EXECUTE FUNCTION access.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON access.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION access.audit_log_append_only();
