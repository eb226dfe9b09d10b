-- Step 14: personas. A persona is a user (kind = 'persona') with a
-- descriptor the persona runner reads, the runner's audit trail of tool
-- calls, and the persona's 1-5 ratings per module. Row ids are the
-- runner's natural keys, unique per persona, so retried batches add
-- nothing. Everything goes with the user.

CREATE TABLE personas (
    user_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    archetype      TEXT NOT NULL CHECK (length(archetype) BETWEEN 1 AND 100),
    system_prompt  TEXT NOT NULL CHECK (length(system_prompt) BETWEEN 1 AND 20000),
    module_mix     TEXT NOT NULL CHECK (json_valid(module_mix) AND json_type(module_mix) = 'object'),
    tick_cadence   TEXT NOT NULL DEFAULT 'daily' CHECK (tick_cadence IN ('daily', 'weekdays', 'hourly')),
    last_active_at TEXT,
    created_at     TEXT NOT NULL
) STRICT;
CREATE INDEX personas_archetype ON personas (archetype);

CREATE TABLE persona_actions (
    persona_id    TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    id            TEXT NOT NULL CHECK (length(id) <= 255),
    tick_id       TEXT NOT NULL,
    tool_name     TEXT NOT NULL,
    input_hash    TEXT,
    result        TEXT NOT NULL CHECK (result IN ('ok', 'error')),
    error_message TEXT,
    latency_ms    INTEGER CHECK (latency_ms IS NULL OR latency_ms >= 0),
    created_at    TEXT NOT NULL,
    PRIMARY KEY (persona_id, id)
) STRICT;
CREATE INDEX persona_actions_recent ON persona_actions (persona_id, created_at);
CREATE INDEX persona_actions_tick ON persona_actions (tick_id);

CREATE TABLE persona_feedback (
    persona_id TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    id         TEXT NOT NULL CHECK (length(id) <= 255),
    tick_id    TEXT NOT NULL,
    module     TEXT NOT NULL,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    notes      TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (persona_id, id)
) STRICT;
CREATE INDEX persona_feedback_recent ON persona_feedback (persona_id, created_at);
CREATE INDEX persona_feedback_module ON persona_feedback (module, created_at);
