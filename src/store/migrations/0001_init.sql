-- The first schema: runs and metrics, fetched files, and versioned code sets with their notes,
-- Alphabetic Index terms and a full-text index.

CREATE TABLE runs (
  id          INTEGER PRIMARY KEY,
  command     TEXT NOT NULL,                  -- subcommand path, e.g. 'import icd10cm'
  argv        TEXT NOT NULL,                  -- JSON array of the command line, secrets redacted
  version     TEXT NOT NULL,                  -- medcode version
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  status      TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed')),
  exit_code   INTEGER,
  error       TEXT,
  counters    TEXT NOT NULL DEFAULT '{}'      -- JSON object of what the run counted
);

CREATE TABLE metrics (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  name        TEXT NOT NULL,
  value       REAL NOT NULL,
  labels      TEXT NOT NULL DEFAULT '{}',     -- JSON object
  recorded_at TEXT NOT NULL
);
CREATE INDEX metrics_by_name ON metrics(name, recorded_at);

-- Files that `fetch` downloaded or took from a mirror, verified; `import` reads them from here.
CREATE TABLE fetched_files (
  id          INTEGER PRIMARY KEY,
  system      TEXT NOT NULL,                  -- icd10cm | icd10pcs | hcpcs
  year        INTEGER NOT NULL,
  role        TEXT NOT NULL,                  -- manifest role: tabular, index, order, codes, annual, ...
  url         TEXT NOT NULL,                  -- as published
  member      TEXT,                           -- the file inside the zip archive at `path`; NULL for a plain file
  path        TEXT NOT NULL,                  -- absolute path of the local copy
  bytes       INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  origin      TEXT NOT NULL,                  -- download | mirror
  pinned      INTEGER NOT NULL DEFAULT 0,     -- 1 when the manifest pins the checksum that matched
  fetched_at  TEXT NOT NULL,
  run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  UNIQUE (system, year, role)
);

-- One imported code set: a system and its release year. Re-importing replaces it whole.
CREATE TABLE releases (
  id          INTEGER PRIMARY KEY,
  system      TEXT NOT NULL,                  -- icd10cm | icd10pcs | hcpcs
  year        INTEGER NOT NULL,
  imported_at TEXT NOT NULL,
  run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  sources     TEXT NOT NULL DEFAULT '[]',     -- JSON array of {role, path, sha256}
  n_codes     INTEGER NOT NULL DEFAULT 0,
  n_billable  INTEGER NOT NULL DEFAULT 0,
  UNIQUE (system, year)
);

-- Chapters and sections (ICD-10-CM), or other groupings above the codes.
CREATE TABLE code_groups (
  release_id  INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
  kind        TEXT NOT NULL,                  -- chapter | section
  key         TEXT NOT NULL,                  -- chapter number '19', section id 'S00-S09'
  parent_key  TEXT,                           -- a section's chapter
  description TEXT NOT NULL,
  first_code  TEXT,
  last_code   TEXT,
  seq         INTEGER NOT NULL,
  PRIMARY KEY (release_id, kind, key)
) WITHOUT ROWID;

-- Every code of a release in canonical form (ICD-10-CM dotted, ICD-10-PCS and HCPCS undotted, upper case).
CREATE TABLE codes (
  id                INTEGER PRIMARY KEY,
  release_id        INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
  code              TEXT NOT NULL,
  kind              TEXT NOT NULL DEFAULT 'code',   -- code | modifier (HCPCS modifiers are not codes)
  parent            TEXT,                           -- canonical parent code; NULL at the top
  chapter           TEXT,                           -- code_groups key
  section           TEXT,                           -- code_groups key
  description       TEXT NOT NULL,                  -- full (long) description
  short_description TEXT,
  billable          INTEGER NOT NULL,               -- valid for submission on a claim
  placeholder       INTEGER NOT NULL DEFAULT 0,     -- holds an 'X' placeholder position
  seventh_char      TEXT,                           -- for codes made by 7th-character expansion
  seventh_meaning   TEXT,
  attributes        TEXT,                           -- JSON object of system-specific fields
  search_terms      TEXT,                           -- words that lead to the code (short description, inclusion
                                                  -- terms, index paths), each once; indexed by code_search
  UNIQUE (release_id, code)
);
CREATE INDEX codes_by_parent ON codes(release_id, parent);

-- Instructional notes attached to a code, chapter ('chapter:19') or section ('section:S00-S09').
CREATE TABLE code_notes (
  release_id  INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
  owner       TEXT NOT NULL,
  kind        TEXT NOT NULL,  -- inclusion_term | includes | excludes1 | excludes2 | code_first
                              -- | use_additional_code | code_also | note | seventh_character_note
  seq         INTEGER NOT NULL,
  text        TEXT NOT NULL
);
CREATE INDEX code_notes_by_owner ON code_notes(release_id, owner);

-- 7th-character definitions where the tabular declares them (inherited by descendants).
CREATE TABLE seventh_characters (
  release_id  INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
  owner       TEXT NOT NULL,                  -- the code whose sevenChrDef this is
  character   TEXT NOT NULL,
  meaning     TEXT NOT NULL,
  PRIMARY KEY (release_id, owner, character)
) WITHOUT ROWID;

-- The Alphabetic Index as a tree of terms; a term points at a code, or at other terms (see / see also).
CREATE TABLE index_terms (
  id          INTEGER PRIMARY KEY,
  release_id  INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
  parent_id   INTEGER,                        -- enclosing term; NULL for a main term
  level       INTEGER NOT NULL,               -- 0 for a main term
  title       TEXT NOT NULL,                  -- with nonessential modifiers in parentheses
  path        TEXT NOT NULL,                  -- main term to this term, joined with ' > '
  code        TEXT,                           -- canonical, without the trailing '-' the index prints
  code_incomplete INTEGER NOT NULL DEFAULT 0, -- 1 when printed with '-': more characters are required
  manifestation_code TEXT,                    -- the code in brackets after it, to be sequenced second
  see         TEXT,
  see_also    TEXT
);
CREATE INDEX index_terms_by_code ON index_terms(release_id, code);

-- Full-text search over codes.description and codes.search_terms; rowid = codes.id. An external-content
-- table: the text lives once, in codes, and rows are removed with the 'delete' command before their codes.
CREATE VIRTUAL TABLE code_search USING fts5(
  description,
  search_terms,
  content = 'codes',
  content_rowid = 'id',
  tokenize = 'porter unicode61 remove_diacritics 2'
);
