#include "context.h"
namespace medcode::cli {
void add_fetch_command(CLI::App&, CommandList&) {}
}
