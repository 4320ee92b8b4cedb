// `medcode cohort packet`: the EHR packets of one MIMIC patient's admissions, as a JSON array on stdout or in
// a file written atomically (docs/packets.md).
#include <spdlog/spdlog.h>

#include <iostream>

#include "context.h"
#include "medcode/mimic/packet.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"

namespace medcode::cli {

namespace {

struct PacketCommandOptions {
  std::int64_t subject_id = 0;
  std::int64_t hadm_id = 0;
  int max_admissions = 0;
  int row_cap_labs = 200;
  int row_cap_radiology = 20;
  int row_cap_emar = 200;
  bool include_without_discharge = false;
  std::string source = "mimic-iv";
  std::string output;
};

mimic::PacketOptions packet_options(const PacketCommandOptions& options) {
  mimic::PacketOptions packets;
  auto source = mimic::parse_source(options.source);
  if (!source) fail(ExitCode::usage, "--source {}: expected mimic-iv or mimic-iii", options.source);
  packets.source = *source;
  packets.subject_id = options.subject_id;
  if (options.hadm_id != 0) packets.hadm_id = options.hadm_id;
  if (options.max_admissions != 0) packets.max_admissions = options.max_admissions;
  packets.row_cap_labs = options.row_cap_labs;
  packets.row_cap_radiology = options.row_cap_radiology;
  packets.row_cap_emar = options.row_cap_emar;
  packets.include_admissions_without_discharge = options.include_without_discharge;
  return packets;
}

}  // namespace

void add_cohort_packet_command(CLI::App& cohort, CommandList& commands) {
  auto options = std::make_shared<PacketCommandOptions>();
  CLI::App* command =
      cohort.add_subcommand("packet", "Print the EHR packets (one per admission) of a MIMIC patient as JSON");
  command->add_option("--subject-id", options->subject_id, "The patient (subject_id)")->required();
  command->add_option("--hadm-id", options->hadm_id, "Only this admission of the patient");
  command
      ->add_option("--max-admissions", options->max_admissions,
                   "At most the first N admissions (by admittime)")
      ->check(CLI::PositiveNumber);
  command->add_option("--row-cap-labs", options->row_cap_labs, "Lab rows per packet (first N by charttime)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      ->add_option("--row-cap-radiology", options->row_cap_radiology,
                   "Radiology reports per packet (first N by charttime)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_option("--row-cap-emar", options->row_cap_emar, "eMAR rows per packet (first N by charttime)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_flag("--include-admissions-without-discharge", options->include_without_discharge,
                    "Also admissions that have no discharge note (skipped by default)");
  command->add_option("--source", options->source, "mimic-iv or mimic-iii")
      ->check(CLI::IsMember({"mimic-iv", "mimic-iii"}))
      ->capture_default_str();
  command->add_option("--output", options->output,
                      "Write the JSON array to this file (atomically) instead of stdout");

  commands.push_back({command, [options](Context& context) {
                        mimic::PacketOptions packets = packet_options(*options);
                        std::vector<mimic::Packet> built = mimic::build_packets(context.store(), packets);
                        if (built.empty()) {
                          spdlog::warn(
                              "subject {} has no admission with a discharge note; pass "
                              "--include-admissions-without-discharge for every admission",
                              options->subject_id);
                        }
                        nlohmann::json out = nlohmann::json::array();
                        for (const auto& packet : built) out.push_back(packet.json);
                        std::string text = out.dump(2) + "\n";
                        if (options->output.empty()) {
                          std::cout << text;
                        } else {
                          util::write_file_atomic(options->output, text);
                          spdlog::info("{} packets of subject {} written to {}", built.size(),
                                       options->subject_id, options->output);
                        }
                        return 0;
                      }});
}

}  // namespace medcode::cli
