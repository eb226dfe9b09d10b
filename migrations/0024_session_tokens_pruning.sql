-- Step 24: replaced refresh tokens are pruned by a range of the index.
-- Every refresh forgets the session's tokens replaced more than a session
-- lifetime ago; with the index on session_id alone that read every token
-- the session ever had (one more per refresh), so refreshes slowed down as
-- a session aged. With superseded_at in the index it is one range.
DROP INDEX session_tokens_session;
CREATE INDEX session_tokens_session ON session_tokens (session_id, superseded_at);
