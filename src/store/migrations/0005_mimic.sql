-- MIMIC-III/IV: which source tables are imported, the CMS General Equivalence Mappings, and the cohort built
-- from them (patients, admission facts with their codes and patient-level splits).
--
-- The imported tables themselves (mimic4_labevents, mimic3_noteevents, ...) mirror the layouts PhysioNet
-- publishes; `import mimic-iv|mimic-iii` creates each from its declared layout, so they are not listed here.

-- One imported MIMIC table. Re-importing a table (--replace) swaps it whole.
CREATE TABLE mimic_tables (
  name         TEXT PRIMARY KEY,                -- table in the store, e.g. mimic4_labevents
  source       TEXT NOT NULL,                   -- mimic-iv | mimic-iii
  source_table TEXT NOT NULL,                   -- module/table as published, e.g. hosp/labevents
  path         TEXT NOT NULL,                   -- absolute path of the file read
  bytes        INTEGER NOT NULL,                -- size of that file
  rows         INTEGER NOT NULL,
  seconds      REAL NOT NULL,
  imported_at  TEXT NOT NULL,
  run_id       INTEGER REFERENCES runs(id) ON DELETE SET NULL
);

-- CMS General Equivalence Mappings between ICD-9-CM and ICD-10-CM/PCS, one row per mapping entry.
-- ICD-10 codes are canonical (ICD-10-CM dotted, ICD-10-PCS as published); ICD-9-CM codes are kept undotted
-- and upper-case, the form both the GEM files and MIMIC use.
CREATE TABLE gem_mappings (
  id          INTEGER PRIMARY KEY,
  year        INTEGER NOT NULL,                 -- the GEM release
  source      TEXT NOT NULL,                    -- icd9cm | icd9pcs | icd10cm | icd10pcs
  target      TEXT NOT NULL,
  source_code TEXT NOT NULL,
  target_code TEXT,                             -- NULL when the entry says no map
  approximate INTEGER NOT NULL,                 -- flag digits of the GEM file, 0 or 1
  no_map      INTEGER NOT NULL,
  combination INTEGER NOT NULL,
  scenario    INTEGER NOT NULL,                 -- 0..9
  choice_list INTEGER NOT NULL                  -- 0..9
);
CREATE INDEX gem_mappings_by_source ON gem_mappings(source, target, source_code);

-- `cohort build`: the top patients of a source by admission count.
CREATE TABLE cohort_patients (
  source       TEXT NOT NULL,                   -- mimic-iv | mimic-iii
  subject_id   INTEGER NOT NULL,
  rank         INTEGER NOT NULL,                -- 1 = most admissions
  n_admissions INTEGER NOT NULL,
  run_id       INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  PRIMARY KEY (source, subject_id)
);

-- `cohort facts`: one row per admission of the selected patients, with its discharge note and the split of
-- its patient (every admission of a patient is in the same split).
CREATE TABLE admission_facts (
  id            INTEGER PRIMARY KEY,
  source        TEXT NOT NULL,
  subject_id    INTEGER NOT NULL,
  hadm_id       INTEGER NOT NULL,
  admittime     TEXT,
  real_year     INTEGER,                        -- the admission's year before MIMIC's date shift, when known
  release_year  INTEGER,                        -- the ICD-10 releases that validated the codes
  note_id       TEXT,
  note_text     TEXT,                           -- NULL when the admission has no discharge note
  split         TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
  run_id        INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  UNIQUE (source, hadm_id)
);
CREATE INDEX admission_facts_by_subject ON admission_facts(source, subject_id);

-- The codes of an admission fact, in MIMIC's sequence order.
CREATE TABLE admission_fact_codes (
  fact_id        INTEGER NOT NULL REFERENCES admission_facts(id) ON DELETE CASCADE,
  kind           TEXT NOT NULL CHECK (kind IN ('diagnosis', 'procedure')),
  seq_num        INTEGER,
  system         TEXT NOT NULL,                 -- icd10cm | icd10pcs: the code's system after any mapping
  code           TEXT NOT NULL,                 -- canonical
  source_code    TEXT NOT NULL,                 -- as MIMIC records it
  source_version INTEGER NOT NULL,              -- 9 | 10
  mapping        TEXT NOT NULL,                 -- direct | exact | approximate | combination
  in_release     INTEGER NOT NULL               -- 1 when the release of the admission's year has the code
);
CREATE INDEX admission_fact_codes_by_fact ON admission_fact_codes(fact_id);

CREATE VIEW admission_facts_train AS SELECT * FROM admission_facts WHERE split = 'train';
CREATE VIEW admission_facts_val AS SELECT * FROM admission_facts WHERE split = 'val';
CREATE VIEW admission_facts_test AS SELECT * FROM admission_facts WHERE split = 'test';

-- The ledger finds the repair that followed an invalid answer (a re-run then pays for neither again).
CREATE INDEX llm_requests_by_repair_of ON llm_requests(repair_of) WHERE repair_of IS NOT NULL;
