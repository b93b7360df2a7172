-- A definition saved before NUL characters were refused may hold one, escaped as \u0000 in
-- its json spec (json keeps the text as given; jsonb and text never accepted it). Every
-- read that takes a field of it out as text then failed, and the definitions list with it.
-- Each such escape becomes U+FFFD, the replacement character; an escaped backslash followed
-- by "u0000" is text, not a NUL, and stays.
UPDATE definition_versions
SET spec = regexp_replace(spec::text, '(?<!\\)((?:\\\\)*)\\u0000', '\1\\ufffd', 'g')::json
WHERE spec::text LIKE '%\u0000%';
