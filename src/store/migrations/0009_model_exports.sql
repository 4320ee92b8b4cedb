-- Files written by `medcode model export` (and `run --train --export`): the report lists them with their sizes
-- and checksums, so that a model handed to llama.cpp, Ollama or transformers can be traced to what made it.
CREATE TABLE model_exports (
  id           INTEGER PRIMARY KEY,
  export_id    TEXT NOT NULL,      -- the files of one export share it (the main output's absolute path + time)
  format       TEXT NOT NULL,      -- gguf | hf
  dtype        TEXT NOT NULL,      -- f32 | f16 | bf16 | q8_0 | q4_k
  architecture TEXT NOT NULL,
  base         TEXT NOT NULL,      -- absolute path of the base folder
  adapter      TEXT,               -- absolute path of the merged LoRA folder, if any
  path         TEXT NOT NULL,      -- absolute path of the file
  bytes        INTEGER NOT NULL,
  sha256       TEXT NOT NULL,
  exported_at  TEXT NOT NULL,
  run_id       INTEGER REFERENCES runs(id) ON DELETE SET NULL
);
CREATE INDEX model_exports_by_time ON model_exports(exported_at);
