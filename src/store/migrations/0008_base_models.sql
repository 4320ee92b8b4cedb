-- Pretrained models imported as bases (`medcode model import`): the folder stays where it is; the store keeps
-- what was checked there, so that `train --base NAME` and `predict --base NAME` find it and can tell when the
-- folder has changed since.
CREATE TABLE base_models (
  name                 TEXT PRIMARY KEY,
  path                 TEXT NOT NULL,                -- absolute path of the Hugging Face folder
  architecture         TEXT NOT NULL,                -- LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM
  chat_format          TEXT NOT NULL,                -- plain | chatml | qwen3 | llama3 | deepseek-r1
  tokenizer            TEXT NOT NULL,                -- tokenizer.json | tokenizer.model
  vocab_size           INTEGER NOT NULL,             -- rows of the embedding
  tokenizer_vocab_size INTEGER NOT NULL,
  parameters           INTEGER NOT NULL,
  weight_bytes         INTEGER NOT NULL,
  dtype                TEXT NOT NULL,                -- BF16, F16, F32 or mixed
  config               TEXT NOT NULL,                -- config.json as read
  config_sha256        TEXT NOT NULL,
  tokenizer_sha256     TEXT NOT NULL,
  imported_at          TEXT NOT NULL,
  run_id               INTEGER REFERENCES runs(id) ON DELETE SET NULL
);

-- A token set is in medcode's own prompt layout (SentencePiece) or in a pretrained base's chat format.
ALTER TABLE token_sets ADD COLUMN prompt_format TEXT NOT NULL DEFAULT 'medcode';
