-- The model stack: tokenized datasets (token sets) and the evaluations of models and baselines.

-- One tokenized dataset: the SentencePiece model it was encoded with and the prompt format's limits.
CREATE TABLE token_sets (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  tokenizer_path   TEXT NOT NULL,                 -- absolute path of the .model file
  tokenizer_sha256 TEXT NOT NULL,
  vocab_size       INTEGER NOT NULL,
  max_length       INTEGER NOT NULL,              -- tokens per example, prompt and completion
  source           TEXT NOT NULL,                 -- the dataset files it was built from, JSON array
  stats            TEXT NOT NULL DEFAULT '{}',    -- length statistics and truncation counts, JSON
  created_at       TEXT NOT NULL,
  run_id           INTEGER REFERENCES runs(id) ON DELETE SET NULL
);

-- One prompt–completion pair as token ids (int32 little-endian) with its loss mask (one byte per token,
-- 1 where the token counts towards the loss).
CREATE TABLE token_examples (
  id           INTEGER PRIMARY KEY,
  token_set_id INTEGER NOT NULL REFERENCES token_sets(id) ON DELETE CASCADE,
  split        TEXT NOT NULL,                     -- train | val | test | corpus
  seq          INTEGER NOT NULL,                  -- order within the token set
  text         TEXT NOT NULL,
  codes        TEXT NOT NULL,                     -- JSON array of canonical codes
  input_ids    BLOB NOT NULL,
  loss_mask    BLOB NOT NULL,
  n_prompt     INTEGER NOT NULL,                  -- tokens before the completion
  truncated    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX token_examples_by_set ON token_examples(token_set_id, split, seq);

-- One evaluation of a model or baseline on a dataset file: the headline figures and the full result.
CREATE TABLE evaluations (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  coder       TEXT NOT NULL,                      -- model:<dir>, bm25, majority
  dataset     TEXT NOT NULL,                      -- the dataset file
  n_examples  INTEGER NOT NULL,
  micro_f1    REAL NOT NULL,
  macro_f1    REAL NOT NULL,
  exact_match REAL NOT NULL,
  result      TEXT NOT NULL,                      -- JSON: every figure, per chapter, @k
  created_at  TEXT NOT NULL
);
