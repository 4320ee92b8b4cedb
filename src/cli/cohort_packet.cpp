// `medcode cohort packet`: the EHR packets of one MIMIC patient's admissions, as a JSON array on stdout or in
// a file written atomically (docs/packets.md).
#include <spdlog/spdlog.h>

#include <iostream>

#include "context.h"
#include "medcode/mimic/packet.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "packet_options.h"

namespace medcode::cli {

namespace {

struct PacketCommandLine {
  PacketCommandOptions packet;
  std::string output;
};

}  // namespace

void add_cohort_packet_command(CLI::App& cohort, CommandList& commands) {
  auto options = std::make_shared<PacketCommandLine>();
  CLI::App* command =
      cohort.add_subcommand("packet", "Print the EHR packets (one per admission) of a MIMIC patient as JSON");
  add_packet_options(command, options->packet, "");
  command->get_option("--subject-id")->required();
  command->add_option("--output", options->output,
                      "Write the JSON array to this file (atomically) instead of stdout");

  commands.push_back({command, [options](Context& context) {
                        mimic::PacketOptions packets = packet_options(options->packet);
                        std::vector<mimic::Packet> built = mimic::build_packets(context.store(), packets);
                        if (built.empty()) {
                          spdlog::warn(
                              "subject {} has no admission with a discharge note; pass "
                              "--include-admissions-without-discharge for every admission",
                              options->packet.subject_id);
                        }
                        nlohmann::json out = nlohmann::json::array();
                        for (const auto& packet : built) out.push_back(packet.json);
                        std::string text = out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
                        if (options->output.empty()) {
                          std::cout << text;
                        } else {
                          util::write_file_atomic(options->output, text);
                          spdlog::info("{} packets of subject {} written to {}", built.size(),
                                       options->packet.subject_id, options->output);
                        }
                        return ExitCode::ok;
                      }});
}

}  // namespace medcode::cli
