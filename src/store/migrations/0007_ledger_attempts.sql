-- medcode: foreign keys off
-- The ledger keeps every attempt that reached a provider, so that what was paid is summed exactly (a request
-- sent again under the same key used to overwrite the cost of its earlier answer). Runs record the process
-- that ran them, and a run or request left behind by a process that died is marked 'interrupted'.
-- Rebuilding runs and llm_requests keeps their ids, so every reference to them stays valid.

CREATE TABLE runs_new (
  id          INTEGER PRIMARY KEY,
  command     TEXT NOT NULL,                  -- subcommand path, e.g. 'import icd10cm'
  argv        TEXT NOT NULL,                  -- JSON array of the command line, secrets redacted
  version     TEXT NOT NULL,                  -- medcode version
  started_at  TEXT NOT NULL,
  finished_at TEXT,                           -- for an interrupted run: when it was found dead
  status      TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'failed', 'interrupted')),
  exit_code   INTEGER,
  error       TEXT,
  counters    TEXT NOT NULL DEFAULT '{}',     -- JSON object of what the run counted
  pid         INTEGER,                        -- the process that ran it
  host        TEXT                            -- the machine it ran on
);
INSERT INTO runs_new (id, command, argv, version, started_at, finished_at, status, exit_code, error, counters)
  SELECT id, command, argv, version, started_at, finished_at, status, exit_code, error, counters FROM runs;
-- A run still 'running' was started by an older medcode, which cannot open this store any more.
UPDATE runs_new SET status = 'interrupted', finished_at = coalesce(finished_at, strftime('%Y-%m-%dT%H:%M:%SZ')),
  error = 'the process ended without closing the run (found when the store was upgraded)'
  WHERE status = 'running';
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;

-- One row per logical request; its attempts are in llm_attempts. tokens_* and cost_usd are the totals of
-- its attempts; status, answer, http_status, latency_ms and error are those of the latest attempt.
CREATE TABLE llm_requests_new (
  id              INTEGER PRIMARY KEY,
  request_key     TEXT NOT NULL UNIQUE,           -- sha256 hex
  model           TEXT NOT NULL,                  -- configured model name
  provider        TEXT NOT NULL,                  -- openai | anthropic | gemini | exec
  model_id        TEXT NOT NULL,                  -- the provider's model id
  task            TEXT NOT NULL,
  status          TEXT NOT NULL
                  CHECK (status IN ('in_flight', 'done', 'invalid', 'truncated', 'failed', 'interrupted')),
  attempts        INTEGER NOT NULL DEFAULT 0,     -- attempts sent, retries included
  repair_of       INTEGER REFERENCES llm_requests(id) ON DELETE SET NULL,  -- the request this one repairs
  n_items         INTEGER NOT NULL DEFAULT 0,     -- items asked for in the prompt
  prompt          TEXT NOT NULL,                  -- the rendered prompt (system and messages, JSON)
  params          TEXT NOT NULL DEFAULT '{}',     -- JSON: temperature, max output tokens, response format
  answer          TEXT,                           -- the model's text in the latest answer
  http_status     INTEGER,
  tokens_in       INTEGER NOT NULL DEFAULT 0,
  tokens_out      INTEGER NOT NULL DEFAULT 0,
  tokens_cached   INTEGER NOT NULL DEFAULT 0,
  usage_estimated INTEGER NOT NULL DEFAULT 0,     -- 1 when an answer had no usage and tokens are estimated
  cost_usd        REAL NOT NULL DEFAULT 0,
  latency_ms      REAL,
  error           TEXT,
  run_id          INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  created_at      TEXT NOT NULL,
  finished_at     TEXT
);
INSERT INTO llm_requests_new (id, request_key, model, provider, model_id, task, status, attempts, repair_of,
                              n_items, prompt, params, answer, http_status, tokens_in, tokens_out,
                              tokens_cached, usage_estimated, cost_usd, latency_ms, error, run_id, created_at,
                              finished_at)
  SELECT id, request_key, model, provider, model_id, task,
         CASE status WHEN 'in_flight' THEN 'interrupted' ELSE status END, attempts, repair_of, n_items, prompt,
         params, answer, http_status, tokens_in, tokens_out, tokens_cached, usage_estimated, cost_usd,
         latency_ms, error, run_id, created_at, finished_at
  FROM llm_requests;

-- Every attempt that was sent. An attempt whose answer was lost (a timeout, a body cut off) may still be
-- billed: reserved_usd is what the budget counted for it.
CREATE TABLE llm_attempts (
  id              INTEGER PRIMARY KEY,
  request_id      INTEGER NOT NULL REFERENCES llm_requests(id) ON DELETE CASCADE,
  attempt         INTEGER NOT NULL,               -- 1, 2, ... within the request
  run_id          INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  status          TEXT NOT NULL CHECK (status IN ('in_flight', 'done', 'invalid', 'truncated', 'failed', 'lost',
                                                  'interrupted')),
  http_status     INTEGER,
  response        TEXT,                           -- the provider's raw response body
  tokens_in       INTEGER NOT NULL DEFAULT 0,
  tokens_out      INTEGER NOT NULL DEFAULT 0,
  tokens_cached   INTEGER NOT NULL DEFAULT 0,
  usage_estimated INTEGER NOT NULL DEFAULT 0,
  cost_usd        REAL NOT NULL DEFAULT 0,        -- from the answer's usage
  reserved_usd    REAL NOT NULL DEFAULT 0,        -- what the budget reserved for it
  latency_ms      REAL,
  error           TEXT,
  started_at      TEXT NOT NULL,
  finished_at     TEXT,
  UNIQUE (request_id, attempt)
);
-- Stores from before kept only the latest attempt of each request, with its answer.
INSERT INTO llm_attempts (request_id, attempt, run_id, status, http_status, response, tokens_in, tokens_out,
                          tokens_cached, usage_estimated, cost_usd, latency_ms, error, started_at, finished_at)
  SELECT id, max(attempts, 1), run_id, CASE status WHEN 'in_flight' THEN 'interrupted' ELSE status END,
         http_status, response, tokens_in, tokens_out, tokens_cached, usage_estimated, cost_usd, latency_ms,
         error, created_at, finished_at
  FROM llm_requests;
DROP TABLE llm_requests;
ALTER TABLE llm_requests_new RENAME TO llm_requests;
CREATE INDEX llm_requests_by_run ON llm_requests(run_id);
CREATE INDEX llm_requests_by_repair_of ON llm_requests(repair_of) WHERE repair_of IS NOT NULL;
CREATE INDEX llm_attempts_by_run ON llm_attempts(run_id);
