// Runs a real llama.cpp (node-llama-cpp's prebuilt CPU build, driven by scripts/llama-cpp/llama_check.mjs) on
// a GGUF file, so that tests can check medcode's GGUF exports against what llama.cpp makes of them.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace medcode::testing {

// Why llama.cpp cannot run here (node is not on PATH, node-llama-cpp is not installed, ...), as a sentence to
// skip a test with; empty when it can run.
std::string llama_cpp_unavailable_reason();

// Runs llama_check.mjs on `request` (its header comment gives the request and response formats) and returns
// the response. Throws std::runtime_error carrying the script's stderr when it fails.
nlohmann::json run_llama_cpp(const nlohmann::json& request);

}  // namespace medcode::testing
