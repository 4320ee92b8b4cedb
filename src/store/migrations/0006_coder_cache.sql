-- Compiled lookup structures of document coders (the index coder's term matcher), one per release and kind.
-- A cache: rebuilt from the release when missing or when `version` differs from the program's.
CREATE TABLE coder_cache (
  release_id  INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
  kind        TEXT NOT NULL,                  -- e.g. index-matcher
  version     TEXT NOT NULL,                  -- format version and fingerprint of the curated tables used
  built_at    TEXT NOT NULL,
  data        BLOB NOT NULL,
  PRIMARY KEY (release_id, kind)
) WITHOUT ROWID;
