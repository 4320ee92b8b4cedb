// `medcode cohort build|facts|export`: MIMIC patients, admission facts with patient-level splits, datasets.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "context.h"
#include "medcode/dataset/facts_export.h"
#include "medcode/mimic/cohort.h"
#include "medcode/util/error.h"

namespace medcode::cli {

namespace {

std::optional<mimic::Source> source_option(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (auto source = mimic::parse_source(text)) return source;
  fail(ExitCode::usage, "--source: '{}' is not mimic-iv or mimic-iii", text);
}

void add_source_option(CLI::App* command, std::string& source) {
  command->add_option("--source", source,
                      "mimic-iv or mimic-iii (default: mimic-iv when imported, else mimic-iii)");
}

void add_build(CLI::App& cohort, CommandList& commands) {
  struct Options {
    std::string source;
    std::int64_t limit = 100;
    std::string output = "cohort.csv";
  };
  auto options = std::make_shared<Options>();
  CLI::App* command =
      cohort.add_subcommand("build", "The top N patients by admission count (ties: lower id)");
  add_source_option(command, options->source);
  command->add_option("--limit", options->limit, "How many patients")->capture_default_str();
  command->add_option("--output", options->output, "The cohort as CSV (also kept in the store)")
      ->capture_default_str();
  commands.push_back({command, [options](Context& context) {
                        mimic::CohortOptions cohort;
                        cohort.source = source_option(options->source);
                        cohort.limit = options->limit;
                        cohort.csv = options->output;
                        cohort.run_id = context.start_run("cohort build").id();
                        mimic::CohortSummary summary = mimic::build_cohort(context.store(), cohort);
                        context.run()->counters()["patients"] = summary.patients.size();
                        context.run()->counters()["admissions"] = summary.admissions;
                        if (context.json()) {
                          nlohmann::json patients = nlohmann::json::array();
                          for (const auto& patient : summary.patients) {
                            patients.push_back({{"rank", patient.rank},
                                                {"subject_id", patient.subject_id},
                                                {"n_admissions", patient.n_admissions},
                                                {"has_discharge_note", patient.has_discharge_note}});
                          }
                          std::cout << nlohmann::json{{"source", mimic::source_name(summary.source)},
                                                      {"patients", patients},
                                                      {"admissions", summary.admissions},
                                                      {"csv", options->output}}
                                           .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                                    << "\n";
                          return ExitCode::ok;
                        }
                        std::cout << fmt::format("{} cohort: {} patients, {} admissions; written to {}\n",
                                                 mimic::source_name(summary.source), summary.patients.size(),
                                                 summary.admissions, options->output);
                        return ExitCode::ok;
                      }});
}

nlohmann::json facts_json(const mimic::FactsSummary& summary) {
  auto split = [](const mimic::SplitCount& count) {
    return nlohmann::json{{"patients", count.patients}, {"admissions", count.admissions}};
  };
  return {{"source", mimic::source_name(summary.source)},
          {"from_cohort", summary.from_cohort},
          {"patients", summary.patients},
          {"patients_with_notes", summary.patients_with_notes},
          {"admissions", summary.admissions},
          {"admissions_with_notes", summary.admissions_with_notes},
          {"diagnosis_codes", summary.diagnosis_codes},
          {"procedure_codes", summary.procedure_codes},
          {"icd10_codes", summary.icd10_codes},
          {"icd9_mapped", summary.icd9_mapped},
          {"icd9_no_map", summary.icd9_no_map},
          {"icd9_left_out", summary.icd9_left_out},
          {"not_in_release", summary.not_in_release},
          {"releases", summary.releases},
          {"splits",
           {{"train", split(summary.train)}, {"val", split(summary.val)}, {"test", split(summary.test)}}},
          {"warnings", summary.warnings}};
}

void add_facts(CLI::App& cohort, CommandList& commands) {
  struct Options {
    std::string source;
    std::int64_t num_samples = 100;
    std::uint64_t seed = 42;
    bool map_icd9 = false;
    int gem_year = 0;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = cohort.add_subcommand(
      "facts",
      "One fact per admission (discharge note + ICD-10 codes) for N patients, split 80/10/10 by patient");
  add_source_option(command, options->source);
  command
      ->add_option("--num-samples", options->num_samples,
                   "How many patients (those with discharge notes first; from `cohort build` when run)")
      ->capture_default_str();
  command->add_option("--seed", options->seed, "Seed of the patient-level splits")->capture_default_str();
  command->add_flag("--map-icd9", options->map_icd9,
                    "Map ICD-9 codes to ICD-10 through the imported GEMs (`medcode import gem`)");
  command->add_option("--gem-year", options->gem_year,
                      "GEM release to map with (default: the newest imported)");
  commands.push_back({command, [options](Context& context) {
                        mimic::FactsOptions facts;
                        facts.source = source_option(options->source);
                        facts.num_samples = options->num_samples;
                        facts.seed = options->seed;
                        facts.map_icd9 = options->map_icd9;
                        if (options->gem_year != 0) facts.gem_year = options->gem_year;
                        facts.run_id = context.start_run("cohort facts").id();
                        facts.progress = context.progress();
                        mimic::FactsSummary summary = mimic::build_facts(context.store(), facts);
                        nlohmann::json out = facts_json(summary);
                        context.run()->counters() = out;
                        if (context.json()) {
                          std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
                          return ExitCode::ok;
                        }
                        std::cout << fmt::format(
                            "{} facts: {} patients ({} with discharge notes), {} admissions ({} with notes)\n"
                            "codes: {} diagnoses, {} procedures; {} not in the release of their year\n"
                            "ICD-9: {} mapped, {} without an ICD-10 equivalent, {} left out\n"
                            "splits by patient: train {} ({} admissions), val {} ({}), test {} ({})\n",
                            mimic::source_name(summary.source), summary.patients, summary.patients_with_notes,
                            summary.admissions, summary.admissions_with_notes, summary.diagnosis_codes,
                            summary.procedure_codes, summary.not_in_release, summary.icd9_mapped,
                            summary.icd9_no_map, summary.icd9_left_out, summary.train.patients,
                            summary.train.admissions, summary.val.patients, summary.val.admissions,
                            summary.test.patients, summary.test.admissions);
                        return ExitCode::ok;
                      }});
}

void add_export(CLI::App& cohort, CommandList& commands) {
  struct Options {
    std::string source;
    std::string out = "mimic-dataset";
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = cohort.add_subcommand(
      "export", "Admission facts as note → codes JSON Lines (the files `tokenize` and `train` read)");
  add_source_option(command, options->source);
  command->add_option("--out", options->out, "Output folder")->capture_default_str();
  commands.push_back(
      {command, [options](Context& context) {
         dataset::FactsExportOptions export_options;
         export_options.source = source_option(options->source);
         export_options.out_dir = options->out;
         context.start_run("cohort export");
         dataset::FactsExportSummary summary = dataset::export_facts(context.store(), export_options);
         context.run()->counters()["examples"] = summary.examples;
         nlohmann::json files = nlohmann::json::array();
         for (const auto& [path, lines] : summary.files)
           files.push_back({{"path", path.string()}, {"lines", lines}});
         if (context.json()) {
           std::cout << nlohmann::json{{"files", files},
                                       {"examples", summary.examples},
                                       {"without_note", summary.without_note},
                                       {"without_codes", summary.without_codes}}
                            .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                     << "\n";
           return ExitCode::ok;
         }
         for (const auto& [path, lines] : summary.files)
           std::cout << fmt::format("{:>7} {}\n", lines, path.string());
         std::cout << fmt::format(
             "{} examples; left out: {} admissions without a discharge note, {} without a code "
             "of the release\n",
             summary.examples, summary.without_note, summary.without_codes);
         return ExitCode::ok;
       }});
}

}  // namespace

void add_cohort_command(CLI::App& app, CommandList& commands) {
  CLI::App* cohort = app.add_subcommand(
      "cohort", "MIMIC cohorts: patients, admission facts and splits, datasets, EHR packets");
  cohort->require_subcommand(1);
  add_build(*cohort, commands);
  add_facts(*cohort, commands);
  add_export(*cohort, commands);
  add_cohort_packet_command(*cohort, commands);
}

}  // namespace medcode::cli
