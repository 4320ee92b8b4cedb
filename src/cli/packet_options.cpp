// The EHR packet options shared by `cohort packet` and `generate --task conversation`.
#include "packet_options.h"

#include "medcode/util/error.h"

namespace medcode::cli {

void add_packet_options(CLI::App* command, PacketCommandOptions& options, const std::string& help_prefix) {
  command->add_option("--subject-id", options.subject_id, help_prefix + "the MIMIC patient (subject_id)");
  command->add_option("--hadm-id", options.hadm_id, help_prefix + "only this admission of the patient");
  command
      ->add_option("--max-admissions", options.max_admissions,
                   help_prefix + "at most the first N admissions (by admittime)")
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--row-cap-labs", options.row_cap_labs,
                   help_prefix + "lab rows per packet (first N by charttime)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      ->add_option("--row-cap-radiology", options.row_cap_radiology,
                   help_prefix + "radiology reports per packet (first N by charttime)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      ->add_option("--row-cap-emar", options.row_cap_emar,
                   help_prefix + "eMAR rows per packet (first N by charttime)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_flag("--include-admissions-without-discharge", options.include_without_discharge,
                    help_prefix + "also admissions that have no discharge note (skipped by default)");
  command->add_option("--source", options.source, help_prefix + "mimic-iv or mimic-iii")
      ->check(CLI::IsMember({"mimic-iv", "mimic-iii"}))
      ->capture_default_str();
}

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

}  // namespace medcode::cli
