-- Step 9: Better Auth scrypt hashes brought over by `mana-auth import` stay
-- until their owner's next sign-in replaces them with argon2id. This partial
-- index holds only those rows, so start-up learns in one lookup whether any
-- are left (while some are, every password check also pays one scrypt).

CREATE INDEX password_credentials_scrypt ON password_credentials (user_id)
    WHERE password_hash NOT LIKE '$%';
