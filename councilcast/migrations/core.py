"""Core tables: settings and bearer tokens of every role."""

AREA = "core"

STEPS = [
    """
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,          -- secretariat, studio, clerk, delegate, member
        subject TEXT,                -- what the token speaks for, e.g. an assembly id
        token_hash TEXT NOT NULL UNIQUE,
        label TEXT,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE INDEX tokens_role_subject ON tokens(role, subject);
    """,
]
