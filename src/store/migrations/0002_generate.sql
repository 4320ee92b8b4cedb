-- Dataset generation: the LLM ledger (cache and resume point), generation jobs and their items, the dataset
-- entries they produce, the price tables in force for each run and the batch-size decisions of each model.

-- One row per logical LLM request, keyed by a hash of (provider, model, parameters, prompt). A row is written
-- 'in_flight' before the request is sent and 'done' in the same transaction that stores what it produced, so
-- a killed run re-sends only what never finished and never pays twice for a finished request.
CREATE TABLE llm_requests (
  id              INTEGER PRIMARY KEY,
  request_key     TEXT NOT NULL UNIQUE,           -- sha256 hex
  model           TEXT NOT NULL,                  -- configured model name
  provider        TEXT NOT NULL,                  -- openai | anthropic | gemini | exec
  model_id        TEXT NOT NULL,                  -- the provider's model id
  task            TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('in_flight', 'done', 'invalid', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,     -- HTTP attempts, retries included
  repair_of       INTEGER REFERENCES llm_requests(id) ON DELETE SET NULL,  -- the request this one repairs
  n_items         INTEGER NOT NULL DEFAULT 0,     -- items asked for in the prompt
  prompt          TEXT NOT NULL,                  -- the rendered prompt (system and messages, JSON)
  params          TEXT NOT NULL DEFAULT '{}',     -- JSON: temperature, max output tokens, response format
  response        TEXT,                           -- the provider's raw response body
  answer          TEXT,                           -- the model's text
  http_status     INTEGER,
  tokens_in       INTEGER NOT NULL DEFAULT 0,
  tokens_out      INTEGER NOT NULL DEFAULT 0,
  tokens_cached   INTEGER NOT NULL DEFAULT 0,
  usage_estimated INTEGER NOT NULL DEFAULT 0,     -- 1 when the response had no usage and tokens are estimated
  cost_usd        REAL NOT NULL DEFAULT 0,
  latency_ms      REAL,
  error           TEXT,
  run_id          INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  created_at      TEXT NOT NULL,
  finished_at     TEXT
);
CREATE INDEX llm_requests_by_run ON llm_requests(run_id);

-- A generation job: one task over one set of inputs. Running `generate` again with the same task and inputs
-- finds the job by its key and finishes it.
CREATE TABLE generation_jobs (
  id          INTEGER PRIMARY KEY,
  job_key     TEXT NOT NULL UNIQUE,               -- sha256 hex of the task and its inputs
  task        TEXT NOT NULL,                      -- descriptions | facets | cms-terms
  spec        TEXT NOT NULL,                      -- JSON: release, filters, sample, seed, per-item counts
  created_at  TEXT NOT NULL,
  run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL
);

-- The work of a job for each model: one row per input (a code) and model.
CREATE TABLE generation_items (
  job_id      INTEGER NOT NULL REFERENCES generation_jobs(id) ON DELETE CASCADE,
  model       TEXT NOT NULL,
  item_key    TEXT NOT NULL,                      -- the canonical code
  seq         INTEGER NOT NULL,                   -- order of the inputs
  payload     TEXT NOT NULL DEFAULT '{}',         -- JSON the prompt is rendered from
  status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
  request_id  INTEGER REFERENCES llm_requests(id) ON DELETE SET NULL,
  error       TEXT,
  PRIMARY KEY (job_id, model, item_key)
) WITHOUT ROWID;

-- What generation produced: one text with the code it was written for.
CREATE TABLE dataset_entries (
  id            INTEGER PRIMARY KEY,
  job_id        INTEGER REFERENCES generation_jobs(id) ON DELETE CASCADE,
  task          TEXT NOT NULL,
  kind          TEXT NOT NULL,                    -- clinical | lay | index_term | inclusion_term | facets
  text          TEXT NOT NULL,                    -- the description (for facets: the code's description)
  source_system TEXT NOT NULL,                    -- icd10cm | icd10pcs | hcpcs
  source_year   INTEGER NOT NULL,
  source_code   TEXT NOT NULL,                    -- canonical
  data          TEXT,                             -- JSON: facets, rationale, term path
  model         TEXT NOT NULL,                    -- configured model name, or 'cms' for CMS text
  request_id    INTEGER REFERENCES llm_requests(id) ON DELETE SET NULL,
  run_id        INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  created_at    TEXT NOT NULL,
  UNIQUE (job_id, model, source_code, kind, text)
);
CREATE INDEX dataset_entries_by_code ON dataset_entries(source_system, source_code);

-- The prices a run used, with the date of the price table, so costs can be read later as they were billed.
CREATE TABLE run_prices (
  run_id                   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  model                    TEXT NOT NULL,
  provider                 TEXT NOT NULL,
  model_id                 TEXT NOT NULL,
  input_per_million        REAL NOT NULL,
  output_per_million       REAL NOT NULL,
  cached_input_per_million REAL,
  prices_as_of             TEXT NOT NULL,
  PRIMARY KEY (run_id, model)
) WITHOUT ROWID;

-- Every change of a model's batch size or concurrency, with the reason.
CREATE TABLE batch_size_history (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER REFERENCES runs(id) ON DELETE CASCADE,
  model       TEXT NOT NULL,
  batch_size  INTEGER NOT NULL,
  concurrency INTEGER NOT NULL,
  reason      TEXT NOT NULL,
  recorded_at TEXT NOT NULL
);
CREATE INDEX batch_size_history_by_run ON batch_size_history(run_id, model);
