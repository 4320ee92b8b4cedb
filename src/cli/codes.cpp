#include "context.h"
namespace medcode::cli {
void add_codes_command(CLI::App&, CommandList&) {}
}
