-- Scoring: what a coder answered for each generated entry when it re-coded the text blind, and the score.

CREATE TABLE entry_scores (
  entry_id    INTEGER NOT NULL REFERENCES dataset_entries(id) ON DELETE CASCADE,
  coder       TEXT NOT NULL,                  -- bm25 | llm:<model> | model:<path>
  score       REAL NOT NULL,                  -- 0..1: 1 exact, 0.7-0.9 ranked, 0.5-0.7 partial, below 0.5 none
  match       TEXT NOT NULL CHECK (match IN ('exact', 'ranked', 'partial', 'none')),
  source_rank INTEGER,                        -- 1-based rank of the source code in the answer; NULL if absent
  answer      TEXT NOT NULL,                  -- JSON array of {"code", "score"}, best first
  run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  scored_at   TEXT NOT NULL,
  PRIMARY KEY (entry_id, coder)
) WITHOUT ROWID;
CREATE INDEX entry_scores_by_coder ON entry_scores(coder, score);
