-- Logins are throttled per account and client together, and per client across accounts
-- (never per account alone: nobody may lock a person out from elsewhere). Each kind of key
-- has its own number of free failures, kept with the key.
ALTER TABLE login_failures ADD COLUMN free_failures integer NOT NULL DEFAULT 5;
-- Rows of the former per-account keys ('account:<email>') would never be looked at again.
DELETE FROM login_failures WHERE key NOT LIKE 'client:%';
