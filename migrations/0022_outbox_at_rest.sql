-- Step 22: no live link at rest in the mail outbox.
-- Queued mail is stored sealed under the KEK when one is set: text_body and
-- html_body then hold base64 of IV ‖ ciphertext ‖ tag and kek_id the KEK's
-- fingerprint (NULL: clear). links_expire_at is when the one-time link the
-- mail carries dies (NULL: it carries none); mail still queued then is given
-- up and its link scrubbed.
ALTER TABLE mail_outbox ADD COLUMN kek_id TEXT;
ALTER TABLE mail_outbox ADD COLUMN links_expire_at TEXT;

-- Mail logged or given up before this step kept its links: drop the bodies.
UPDATE mail_outbox SET text_body = '', html_body = ''
WHERE status IN ('logged', 'failed')
  AND (text_body LIKE '%token=%' OR html_body LIKE '%token=%');
