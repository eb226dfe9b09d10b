-- Step 21: a per-user credential epoch, bumped by every change that ends
-- all of a user's sessions (password reset or change, turning on 2FA, an
-- admin lock, proving an unverified address). A sign-in reads it with the
-- password hash and is refused in the write that would open its session
-- when it moved meanwhile (auth::open_session).

ALTER TABLE users ADD COLUMN credential_epoch INTEGER NOT NULL DEFAULT 0;
