// The options that choose a MIMIC patient's EHR packets, declared once for `cohort packet` and
// `generate --task conversation`.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "medcode/mimic/packet.h"

namespace medcode::cli {

struct PacketCommandOptions {
  std::int64_t subject_id = 0;
  std::int64_t hadm_id = 0;
  int max_admissions = 0;
  int row_cap_labs = 200;
  int row_cap_radiology = 20;
  int row_cap_emar = 200;
  bool include_without_discharge = false;
  std::string source = "mimic-iv";
};

// Declares --subject-id, --hadm-id, --max-admissions, the row caps, --include-admissions-without-discharge
// and
// --source on `command`; `help_prefix` starts each help text (e.g. "conversation: ").
void add_packet_options(CLI::App* command, PacketCommandOptions& options, const std::string& help_prefix);

// The packet options for the mimic module; Error(usage) for an unknown --source.
mimic::PacketOptions packet_options(const PacketCommandOptions& options);

}  // namespace medcode::cli
