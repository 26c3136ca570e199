"""Tables of the voting area (see voting/store.py for the functions that use them)."""

AREA = "voting"

STEPS = [
    """
    CREATE TABLE voting_assemblies (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        workplace TEXT,
        members INTEGER NOT NULL CHECK (members > 0),
        created_at REAL NOT NULL
    );
    CREATE TABLE voting_rounds (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        options TEXT NOT NULL,            -- JSON list
        kind TEXT NOT NULL DEFAULT 'decision',  -- decision, runoff, recall
        subject TEXT,                     -- runoff: parent round; recall: delegate id
        scope TEXT,                       -- JSON list of assembly ids, NULL = every assembly
        opens_at REAL NOT NULL,
        closes_at REAL NOT NULL,
        duration_s REAL NOT NULL,
        closed_at REAL,                   -- set when the round closed (scheduled or early)
        genesis TEXT NOT NULL,            -- hash of the definition, prev of the first record
        result TEXT,                      -- JSON, written in the same transaction as the close
        final_hash TEXT,
        published_at REAL,
        created_at REAL NOT NULL
    );
    CREATE INDEX voting_rounds_open ON voting_rounds(closed_at, opens_at);
    -- The audit chain: one row per accepted count (recounts append a new version).
    CREATE TABLE voting_records (
        round_id TEXT NOT NULL REFERENCES voting_rounds(id),
        seq INTEGER NOT NULL,
        assembly_id TEXT NOT NULL REFERENCES voting_assemblies(id),
        version INTEGER NOT NULL,
        present INTEGER NOT NULL,
        abstain INTEGER NOT NULL,
        counts TEXT NOT NULL,             -- JSON {option: votes}, every option
        source TEXT NOT NULL,             -- clerk or ballots
        received_at REAL NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        PRIMARY KEY (round_id, seq)
    );
    CREATE INDEX voting_records_assembly ON voting_records(round_id, assembly_id, version);
    -- One-time ballot codes. Which code was used is recorded, never the choice made with it.
    CREATE TABLE voting_ballot_codes (
        code_hash TEXT PRIMARY KEY,
        round_id TEXT NOT NULL REFERENCES voting_rounds(id),
        assembly_id TEXT NOT NULL REFERENCES voting_assemblies(id),
        used INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX voting_ballot_codes_round ON voting_ballot_codes(round_id, assembly_id);
    -- Ballots are only ever added to a counter: no row per ballot, so no order or time
    -- links a code to a choice.
    CREATE TABLE voting_ballot_counts (
        round_id TEXT NOT NULL,
        assembly_id TEXT NOT NULL,
        choice TEXT NOT NULL,             -- an option or 'abstain'
        n INTEGER NOT NULL,
        PRIMARY KEY (round_id, assembly_id, choice)
    ) WITHOUT ROWID;
    CREATE TABLE voting_delegates (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        assemblies TEXT NOT NULL,         -- JSON list: the constituency
        status TEXT NOT NULL DEFAULT 'active',  -- active, recalled
        elected_at REAL NOT NULL,
        recalled_at REAL,
        recall_round TEXT
    );
    CREATE TABLE voting_rollcalls (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        options TEXT NOT NULL,
        round_id TEXT,                    -- the GA round on the same question, if any
        opened_at REAL NOT NULL,
        closed_at REAL
    );
    CREATE TABLE voting_rollcall_votes (
        rollcall_id TEXT NOT NULL REFERENCES voting_rollcalls(id),
        delegate_id TEXT NOT NULL REFERENCES voting_delegates(id),
        choice TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (rollcall_id, delegate_id)
    );
    """,
]
