// Export to a Hugging Face folder or a GGUF file (model_export.h). The weights stream from the source's
// safetensors through float32 rows: a block of rows is read, the LoRA update B·A of those rows is added, the
// rows are put in the target's order and encoded, and the block is written, so memory holds a few megabytes of
// rows, the adapters and the tokenizer, never a whole tensor.
//
// GGUF follows llama.cpp's conventions (its convert_hf_to_gguf.py, llama-arch.cpp and llama-model.cpp):
// Llama and Mistral become architecture `llama`, whose rotary embedding pairs neighbouring dimensions, so the
// rows of q_proj and k_proj are permuted from transformers' half-split order; Qwen2 becomes `qwen2`, which
// keeps transformers' order.
#include "medcode/model/model_export.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <numbers>
#include <set>
#include <thread>

#include "medcode/model/config.h"
#include "medcode/model/gguf.h"
#include "medcode/model/gguf_vocab.h"
#include "medcode/model/hf_folder.h"
#include "medcode/model/peft_config.h"
#include "medcode/model/safetensors_header.h"
#include "medcode/text/chat_template.h"
#include "medcode/text/prompt_format.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"
#include "medcode/util/hash.h"
#include "medcode/util/text.h"

namespace medcode::model {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* k_info_file = "medcode.json";
constexpr std::size_t k_block_bytes = 8u << 20;  // rows read and written per step

json read_json_file(const fs::path& path) {
  try {
    return json::parse(util::read_file(path));
  } catch (const json::exception& e) {
    fail(ExitCode::bad_input, "{}: not valid JSON: {}", path.string(), e.what());
  }
}

// ---------------------------------------------------------------------------------------------- reading rows

// An open file read with pread, so that many tensors share one descriptor and nothing is mapped.
class SourceFile {
 public:
  explicit SourceFile(const fs::path& path) : m_path(path), m_fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (m_fd < 0) fail(ExitCode::bad_input, "{}: cannot open ({})", path.string(), std::strerror(errno));
  }
  ~SourceFile() {
    if (m_fd >= 0) ::close(m_fd);
  }
  SourceFile(const SourceFile&) = delete;
  SourceFile& operator=(const SourceFile&) = delete;

  void read(std::uint64_t offset, void* out, std::size_t bytes) const {
    auto* dst = static_cast<char*>(out);
    while (bytes > 0) {
      const ssize_t got = ::pread(m_fd, dst, bytes, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        fail(ExitCode::bad_input, "{}: cannot read {} bytes at {} ({})", m_path.string(), bytes, offset,
             got < 0 ? std::strerror(errno) : "the file is shorter than its header says");
      }
      dst += got;
      offset += static_cast<std::uint64_t>(got);
      bytes -= static_cast<std::size_t>(got);
    }
  }

 private:
  fs::path m_path;
  int m_fd;
};

// The safetensors dtype's elements as floats (F32, F16 and BF16 are what Hugging Face weights come in).
GgmlType source_type(const std::string& dtype, const std::string& where) {
  if (dtype == "F32") return GgmlType::f32;
  if (dtype == "F16") return GgmlType::f16;
  if (dtype == "BF16") return GgmlType::bf16;
  fail(ExitCode::bad_input, "{}: dtype {} (weights must be F32, F16 or BF16)", where, dtype);
}

struct SourceTensor {
  std::string name;  // Hugging Face name
  std::vector<std::int64_t> shape;
  const SourceFile* file = nullptr;
  std::uint64_t offset = 0;  // of the data in the file
  GgmlType type = GgmlType::f32;

  std::int64_t rows() const { return shape.size() == 1 ? 1 : shape[0]; }
  std::int64_t row_length() const { return shape.size() == 1 ? shape[0] : shape[1]; }

  // rows [first, first + count) as floats into out (count × row_length)
  void read_rows(std::int64_t first, std::int64_t count, std::vector<char>& scratch, float* out) const {
    const std::uint64_t row_bytes = ggml_row_bytes(type, row_length());
    const std::size_t bytes = static_cast<std::size_t>(row_bytes * static_cast<std::uint64_t>(count));
    if (type == GgmlType::f32) {
      file->read(offset + row_bytes * static_cast<std::uint64_t>(first), out, bytes);
      return;
    }
    scratch.resize(bytes);
    file->read(offset + row_bytes * static_cast<std::uint64_t>(first), scratch.data(), bytes);
    dequantize_row(type, scratch.data(), count * row_length(), out);
  }
};

// ------------------------------------------------------------------------------------------------- the adapter

struct LoraUpdate {
  std::vector<float> a;  // (r, in)
  std::vector<float> b;  // (out, r)
  std::int64_t rank = 0;
  float scaling = 1;
};

std::vector<float> read_whole(const SourceFile& file, const SafetensorsEntry& entry, std::uint64_t data_offset,
                              const std::string& where) {
  const GgmlType type = source_type(entry.dtype, where);
  const std::int64_t n = entry.element_count();
  std::vector<char> raw(static_cast<std::size_t>(entry.end - entry.begin));
  file.read(data_offset + entry.begin, raw.data(), raw.size());
  std::vector<float> values(static_cast<std::size_t>(n));
  dequantize_row(type, raw.data(), n, values.data());
  return values;
}

// The adapters by the name of the base weight they update ("model.layers.0.self_attn.q_proj.weight").
std::map<std::string, LoraUpdate> read_adapter(const fs::path& dir, const std::map<std::string, SourceTensor>& base) {
  const fs::path config_path = dir / k_peft_config_file;
  if (!fs::is_regular_file(config_path)) {
    fail(ExitCode::bad_input, "{}: not a LoRA folder ({} is missing)", dir.string(), k_peft_config_file);
  }
  const LoraConfig lora = read_peft_lora_config(read_json_file(config_path), dir);
  const fs::path weights_path = dir / k_peft_weights_file;
  if (!fs::is_regular_file(weights_path))
    fail(ExitCode::bad_input, "{}: {} is missing", dir.string(), k_peft_weights_file);
  const SafetensorsHeader header = read_safetensors_header(weights_path);
  const SourceFile file(weights_path);

  std::map<std::string, std::pair<const SafetensorsEntry*, const SafetensorsEntry*>> pairs;
  for (const auto& entry : header.tensors) {
    std::string name = entry.name;
    const std::string prefix = "base_model.model.";
    if (name.starts_with(prefix)) name = name.substr(prefix.size());
    bool is_a = name.ends_with(".lora_A.weight");
    bool is_b = name.ends_with(".lora_B.weight");
    if (!is_a && !is_b) {
      fail(ExitCode::bad_input, "{}: tensor `{}` is not a LoRA A or B matrix", weights_path.string(), entry.name);
    }
    const std::string target = name.substr(0, name.size() - std::string(".lora_A.weight").size()) + ".weight";
    (is_a ? pairs[target].first : pairs[target].second) = &entry;
  }
  std::map<std::string, LoraUpdate> updates;
  for (const auto& [target, pair] : pairs) {
    const std::string where = fmt::format("{}: `{}`", weights_path.string(), target);
    auto it = base.find(target);
    if (it == base.end()) fail(ExitCode::bad_input, "{}: the base has no such weight", where);
    if (!pair.first || !pair.second) fail(ExitCode::bad_input, "{}: lora_A or lora_B is missing", where);
    const auto& shape = it->second.shape;
    const auto& a = *pair.first;
    const auto& b = *pair.second;
    if (a.shape.size() != 2 || b.shape.size() != 2 || shape.size() != 2 || a.shape[0] != b.shape[1] ||
        a.shape[1] != shape[1] || b.shape[0] != shape[0]) {
      fail(ExitCode::bad_input, "{}: lora_A [{}] and lora_B [{}] do not fit the base's [{}]", where,
           fmt::join(a.shape, ", "), fmt::join(b.shape, ", "), fmt::join(shape, ", "));
    }
    LoraUpdate update;
    update.rank = a.shape[0];
    update.scaling = static_cast<float>(lora.scaling());
    update.a = read_whole(file, a, header.data_offset, where);
    update.b = read_whole(file, b, header.data_offset, where);
    updates.emplace(target, std::move(update));
  }
  if (updates.empty()) fail(ExitCode::bad_input, "{}: no LoRA matrices", weights_path.string());
  return updates;
}

// rows [first, first + count) of the base += scaling · B[rows] · A
void add_lora(const LoraUpdate& lora, std::int64_t first, std::int64_t count, std::int64_t in, float* rows) {
  for (std::int64_t r = 0; r < count; ++r) {
    float* row = rows + r * in;
    const float* b = lora.b.data() + (first + r) * lora.rank;
    for (std::int64_t k = 0; k < lora.rank; ++k) {
      const float coefficient = lora.scaling * b[k];
      if (coefficient == 0) continue;
      const float* a = lora.a.data() + k * in;
      for (std::int64_t i = 0; i < in; ++i) row[i] += coefficient * a[i];
    }
  }
}

// ----------------------------------------------------------------------------------------------- the source

struct Source {
  fs::path dir;
  bool own = false;  // written by `medcode train` (medcode.json, tokenizer.model)
  HfFolder folder;
  std::vector<std::unique_ptr<SourceFile>> files;
  std::vector<SourceTensor> tensors;  // in Hugging Face order
  std::map<std::string, SourceTensor> by_name;
  json info;  // own: medcode.json
};

Source open_source(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail(ExitCode::bad_input, "{}: no such model folder", dir.string());
  if (fs::is_regular_file(dir / k_peft_config_file)) {
    fail(ExitCode::usage, "{} is a LoRA folder: give it with --adapter, and its base with --base", dir.string());
  }
  Source source;
  source.dir = dir;
  source.own = fs::is_regular_file(dir / k_info_file);
  source.folder = inspect_hf_folder(dir);
  if (source.own) source.info = read_json_file(dir / k_info_file);
  std::map<fs::path, const SourceFile*> opened;
  for (const auto& location : source.folder.tensors) {
    if (!opened.count(location.file)) {
      source.files.push_back(std::make_unique<SourceFile>(location.file));
      opened[location.file] = source.files.back().get();
    }
    SourceTensor tensor;
    tensor.name = location.name;
    tensor.shape = location.shape;
    tensor.file = opened[location.file];
    tensor.offset = location.offset;
    tensor.type = source_type(location.dtype, fmt::format("{}: `{}`", location.file.string(), location.name));
    if (tensor.shape.size() != 1 && tensor.shape.size() != 2) {
      fail(ExitCode::bad_input, "{}: `{}` has {} dimensions", location.file.string(), location.name,
           tensor.shape.size());
    }
    source.tensors.push_back(tensor);
    source.by_name.emplace(tensor.name, tensor);
  }
  return source;
}

// --------------------------------------------------------------------------------------------- the streaming

// How one output tensor is made from its source.
struct TensorPlan {
  const SourceTensor* source = nullptr;
  std::string name;           // in the output
  GgmlType type = GgmlType::f32;
  const LoraUpdate* lora = nullptr;
  std::int64_t permute_heads = 0;  // > 0: llama.cpp's Q/K row order, for this many heads
};

// Out row → source row of llama.cpp's permutation: within each head, transformers' halves [x0..x(d/2-1) |
// y0..y(d/2-1)] become pairs (x0, y0, x1, y1, ...).
std::int64_t permuted_source_row(std::int64_t out_row, std::int64_t head_dim) {
  const std::int64_t head = out_row / head_dim;
  const std::int64_t within = out_row % head_dim;
  const std::int64_t i = within / 2;
  const std::int64_t half = within % 2;
  return head * head_dim + half * (head_dim / 2) + i;
}

// Rows encoded on every core: quantizing is the export's arithmetic (q4_k's search for scales above all), and
// rows are independent.
void encode_rows(GgmlType type, const float* rows, std::int64_t count, std::int64_t in, char* out,
                 std::uint64_t out_row_bytes) {
  auto encode = [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t r = first; r < last; ++r)
      quantize_row(type, rows + r * in, in, out + static_cast<std::uint64_t>(r) * out_row_bytes);
  };
  const auto cores = static_cast<std::int64_t>(std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  const std::int64_t workers = std::min(cores, count * in / 65536);
  if (workers <= 1) {
    encode(0, count);
    return;
  }
  std::vector<std::thread> threads;
  const std::int64_t share = (count + workers - 1) / workers;
  for (std::int64_t w = 1; w < workers; ++w)
    threads.emplace_back(encode, std::min(count, w * share), std::min(count, (w + 1) * share));
  encode(0, std::min(count, share));
  for (auto& thread : threads) thread.join();
}

// Encodes the tensor block by block and hands the bytes to `sink`.
template <typename Sink>
void stream_tensor(const TensorPlan& plan, Sink&& sink) {
  const SourceTensor& source = *plan.source;
  const std::int64_t rows = source.rows();
  const std::int64_t in = source.row_length();
  // rows that move together
  const std::int64_t group = plan.permute_heads > 0 && source.shape.size() == 2 ? rows / plan.permute_heads : 1;
  const std::uint64_t out_row_bytes = ggml_row_bytes(plan.type, in);
  const auto row_floats = static_cast<std::size_t>(in) * sizeof(float);
  std::int64_t block = std::max<std::int64_t>(1, static_cast<std::int64_t>(k_block_bytes / row_floats));
  block = std::max(group, block / group * group);
  std::vector<float> rows_in;
  std::vector<float> rows_out;
  std::vector<char> scratch;
  std::vector<char> encoded;
  if (source.shape.size() == 1) {
    // a vector (norm, bias) in one piece; a Q or K bias is permuted like its weight's rows
    rows_in.resize(static_cast<std::size_t>(in));
    source.read_rows(0, 1, scratch, rows_in.data());
    rows_out = rows_in;
    if (plan.permute_heads > 0) {
      for (std::int64_t i = 0; i < in; ++i)
        rows_out[static_cast<std::size_t>(i)] = rows_in[static_cast<std::size_t>(permuted_source_row(i, in / plan.permute_heads))];
    }
    encoded.resize(static_cast<std::size_t>(out_row_bytes));
    quantize_row(plan.type, rows_out.data(), in, encoded.data());
    sink(encoded.data(), encoded.size());
    return;
  }
  for (std::int64_t first = 0; first < rows; first += block) {
    const std::int64_t count = std::min(block, rows - first);
    rows_in.resize(static_cast<std::size_t>(count * in));
    source.read_rows(first, count, scratch, rows_in.data());
    if (plan.lora) add_lora(*plan.lora, first, count, in, rows_in.data());
    const float* ordered = rows_in.data();
    if (plan.permute_heads > 0) {
      rows_out.resize(rows_in.size());
      for (std::int64_t r = 0; r < count; ++r) {
        const std::int64_t from = permuted_source_row(first + r, group) - first;
        std::memcpy(rows_out.data() + r * in, rows_in.data() + from * in, row_floats);
      }
      ordered = rows_out.data();
    }
    encoded.resize(static_cast<std::size_t>(out_row_bytes * static_cast<std::uint64_t>(count)));
    encode_rows(plan.type, ordered, count, in, encoded.data(), out_row_bytes);
    sink(encoded.data(), encoded.size());
  }
}

// ---------------------------------------------------------------------------------------------- GGUF naming

// llama.cpp's name for a transformers weight; "" for one it does not take.
std::string gguf_tensor_name(const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> layer_parts = {
      {"input_layernorm", "attn_norm"},       {"self_attn.q_proj", "attn_q"},  {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},         {"self_attn.o_proj", "attn_output"},
      {"post_attention_layernorm", "ffn_norm"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"},
  };
  const std::string suffix = name.ends_with(".bias") ? ".bias" : ".weight";
  const std::string stem = name.substr(0, name.size() - suffix.size());
  if (stem == "model.embed_tokens") return "token_embd" + suffix;
  if (stem == "model.norm") return "output_norm" + suffix;
  if (stem == "lm_head") return "output" + suffix;
  const std::string prefix = "model.layers.";
  if (!stem.starts_with(prefix)) return "";
  const auto dot = stem.find('.', prefix.size());
  const std::string layer = stem.substr(prefix.size(), dot - prefix.size());
  const std::string part = stem.substr(dot + 1);
  for (const auto& [from, to] : layer_parts)
    if (part == from) return fmt::format("blk.{}.{}{}", layer, to, suffix);
  return "";
}

// The type a 2-D weight gets: the one asked for when its rows fill whole blocks, else the nearest that fits.
GgmlType weight_type(GgmlType wanted, std::int64_t row_length, const std::string& name, std::vector<std::string>& notes) {
  GgmlType type = wanted;
  while (row_length % ggml_block_size(static_cast<std::uint32_t>(type)) != 0) {
    type = type == GgmlType::q4_k ? GgmlType::q8_0 : GgmlType::f16;
  }
  if (type != wanted) {
    notes.push_back(fmt::format("{} written as {}: its rows of {} do not fill {} blocks of {}", name,
                                ggml_type_name(static_cast<std::uint32_t>(type)), row_length,
                                ggml_type_name(static_cast<std::uint32_t>(wanted)),
                                ggml_block_size(static_cast<std::uint32_t>(wanted))));
  }
  return type;
}

// general.file_type (llama.h's llama_ftype) of the type asked for.
std::uint32_t file_type(GgmlType type) {
  switch (type) {
    case GgmlType::f32: return 0;
    case GgmlType::f16: return 1;
    case GgmlType::q8_0: return 7;
    case GgmlType::q4_k: return 14;  // MOSTLY_Q4_K_S: Q4_K wherever the rows allow
    case GgmlType::bf16: return 32;
    default: return 0;
  }
}

// rope_freqs.weight for llama3 rope scaling: llama.cpp divides each frequency by its factor, as transformers'
// _compute_llama3_parameters does.
std::vector<float> llama3_rope_factors(const ModelConfig& config) {
  const RopeScaling& scaling = config.rope_scaling;
  const double old_context = static_cast<double>(scaling.original_max_position_embeddings);
  const double low_wavelength = old_context / scaling.low_freq_factor;
  const double high_wavelength = old_context / scaling.high_freq_factor;
  const std::int64_t dim = config.head_dim();
  std::vector<float> factors;
  for (std::int64_t i = 0; i < dim; i += 2) {
    const double frequency = 1.0 / std::pow(config.rope_theta, static_cast<double>(i) / static_cast<double>(dim));
    const double wavelength = 2 * std::numbers::pi / frequency;
    if (wavelength < high_wavelength) {
      factors.push_back(1.0f);
    } else if (wavelength > low_wavelength) {
      factors.push_back(static_cast<float>(scaling.factor));
    } else {
      const double smooth = (old_context / wavelength - scaling.low_freq_factor) /
                            (scaling.high_freq_factor - scaling.low_freq_factor);
      factors.push_back(static_cast<float>(1.0 / ((1 - smooth) / scaling.factor + smooth)));
    }
  }
  return factors;
}

// The chat template medcode's own models are trained on, as Jinja: the prompt format's prefix, the text and
// <|codes|>; the answer is the codes and </s>.
std::string medcode_chat_template() {
  return fmt::format(
      "{{{{ bos_token }}}}{{% for message in messages %}}{{% if message['role'] == 'user' %}}{}{{{{ message['content'] "
      "}}}}{}{{% elif message['role'] == 'assistant' %}}{{{{ message['content'] }}}}{{{{ eos_token }}}}{{% endif "
      "%}}{{% endfor %}}",
      text::k_prompt_prefix, text::k_completion_piece);
}

// The folder's chat template (chat_template.jinja or tokenizer_config.json's), or medcode's for its own models.
std::optional<std::string> chat_template_of(const Source& source) {
  if (source.own) return medcode_chat_template();
  return source.folder.chat_template;
}

// --------------------------------------------------------------------------------------------- the Modelfile

// Ollama's TEMPLATE (Go text/template) and stop words for the chat family of the model, with medcode's coding
// prompt, so that `ollama run NAME "note"` codes the note.
std::string modelfile(const std::string& gguf_name, const Source& source, const GgufVocab& vocab) {
  std::string prompt = fmt::format("{}{{{{ .Prompt }}}}", text::k_prompt_prefix);
  std::string tmpl;
  std::vector<std::string> stops;
  if (source.own) {
    tmpl = prompt + std::string(text::k_completion_piece);
    stops = {"</s>"};
  } else {
    std::string family = "plain";
    try {
      family = std::string(text::chat_family_name(text::ChatTemplate::from_folder(source.dir).family()));
    } catch (const Error&) {
      // a template of no known family: the plain prompt, which any base continues
    }
    if (family == "chatml" || family == "qwen3") {
      tmpl = "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}<|im_start|>user\n" + prompt +
             "<|im_end|>\n<|im_start|>assistant\n";
      if (family == "qwen3") tmpl += "<think>\n\n</think>\n\n";
      stops = {"<|im_end|>", "<|endoftext|>"};
    } else if (family == "llama3") {
      tmpl = "<|start_header_id|>system<|end_header_id|>\n\n{{ if .System }}{{ .System }}{{ end }}<|eot_id|>"
             "<|start_header_id|>user<|end_header_id|>\n\n" + prompt +
             "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
      stops = {"<|eot_id|>", "<|end_of_text|>"};
    } else if (family == "deepseek-r1") {
      tmpl = "{{ if .System }}{{ .System }}{{ end }}<\xef\xbd\x9cUser\xef\xbd\x9c>" + prompt +
             "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c><think>\n";
      stops = {"<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"};
    } else {
      tmpl = prompt;
      if (vocab.eos) stops = {vocab.tokens[static_cast<std::size_t>(*vocab.eos)]};
    }
  }
  std::string out = fmt::format("# Ollama: ollama create NAME -f Modelfile; LM Studio reads the GGUF's own template.\n"
                                "FROM ./{}\nTEMPLATE \"\"\"{}\"\"\"\n", gguf_name, tmpl);
  for (const auto& stop : stops) out += fmt::format("PARAMETER stop \"{}\"\n", stop);
  out += "PARAMETER temperature 0\n";
  return out;
}

// ------------------------------------------------------------------------------------------------ the exports

ExportedFile exported(const fs::path& path) {
  return {path, fs::file_size(path), util::sha256_file_hex(path)};
}

struct GgufArchitecture {
  std::string name;   // llama | qwen2
  bool permute_qk = false;
};

GgufArchitecture gguf_architecture(const std::string& architecture) {
  if (architecture == "LlamaForCausalLM" || architecture == "MistralForCausalLM") return {"llama", true};
  if (architecture == "Qwen2ForCausalLM") return {"qwen2", false};
  fail(ExitCode::bad_input, "architecture {} has no GGUF counterpart here", architecture);
}

void export_gguf(const Source& source, const std::map<std::string, LoraUpdate>& lora, GgmlType wanted,
                 const fs::path& out, const std::string& name, ExportSummary& summary) {
  const ModelConfig& config = source.folder.config;
  const GgufArchitecture arch = gguf_architecture(config.architecture);
  summary.architecture = arch.name;

  GgufVocab vocab;
  if (source.folder.tokenizer_kind == "tokenizer.json") {
    vocab = gguf_vocab_from_tokenizer_json(source.dir / "tokenizer.json", config.vocab_size);
  } else if (source.folder.tokenizer_kind == "tokenizer.model") {
    vocab = gguf_vocab_from_sentencepiece(source.dir / "tokenizer.model", config.vocab_size);
  } else {
    fail(ExitCode::bad_input, "{}: no tokenizer.json or tokenizer.model to write the GGUF's tokenizer from",
         source.dir.string());
  }
  vocab.chat_template = chat_template_of(source);
  if (!source.own && !source.folder.eos_token_ids.empty() && !vocab.eos)
    vocab.eos = static_cast<std::int32_t>(source.folder.eos_token_ids.front());
  summary.tokenizer = vocab.model;
  for (auto& note : vocab.notes) summary.notes.push_back(std::move(note));

  GgufWriter writer;
  const std::string& a = arch.name;
  writer.add_string("general.architecture", a);
  writer.add_string("general.type", "model");
  writer.add_string("general.name", name);
  writer.add_uint32("general.file_type", file_type(wanted));
  if (wanted == GgmlType::q8_0 || wanted == GgmlType::q4_k) writer.add_uint32("general.quantization_version", 2);
  writer.add_uint32(a + ".vocab_size", static_cast<std::uint32_t>(config.vocab_size));
  writer.add_uint32(a + ".context_length", static_cast<std::uint32_t>(config.max_seq_len));
  writer.add_uint32(a + ".embedding_length", static_cast<std::uint32_t>(config.dim));
  writer.add_uint32(a + ".block_count", static_cast<std::uint32_t>(config.n_layers));
  writer.add_uint32(a + ".feed_forward_length", static_cast<std::uint32_t>(config.hidden_dim));
  writer.add_uint32(a + ".attention.head_count", static_cast<std::uint32_t>(config.n_heads));
  writer.add_uint32(a + ".attention.head_count_kv", static_cast<std::uint32_t>(config.n_kv_heads));
  writer.add_float32(a + ".rope.freq_base", static_cast<float>(config.rope_theta));
  writer.add_float32(a + ".attention.layer_norm_rms_epsilon", static_cast<float>(config.norm_eps));
  writer.add_uint32(a + ".rope.dimension_count", static_cast<std::uint32_t>(config.head_dim()));
  if (config.explicit_head_dim > 0) {
    writer.add_uint32(a + ".attention.key_length", static_cast<std::uint32_t>(config.head_dim()));
    writer.add_uint32(a + ".attention.value_length", static_cast<std::uint32_t>(config.head_dim()));
  }
  if (config.rope_scaling.type == "linear") {
    writer.add_string(a + ".rope.scaling.type", "linear");
    writer.add_float32(a + ".rope.scaling.factor", static_cast<float>(config.rope_scaling.factor));
  }
  add_gguf_vocab(writer, vocab);

  std::vector<TensorPlan> plans;
  std::set<std::string> merged;
  for (const auto& tensor : source.tensors) {
    TensorPlan plan;
    plan.source = &tensor;
    plan.name = gguf_tensor_name(tensor.name);
    if (plan.name.empty()) fail(ExitCode::bad_input, "{}: weight `{}` has no GGUF name", source.dir.string(), tensor.name);
    plan.type = tensor.shape.size() == 1 ? GgmlType::f32 : weight_type(wanted, tensor.row_length(), plan.name, summary.notes);
    if (auto it = lora.find(tensor.name); it != lora.end()) {
      plan.lora = &it->second;
      merged.insert(tensor.name);
    }
    if (arch.permute_qk) {
      if (tensor.name.find("self_attn.q_proj") != std::string::npos) plan.permute_heads = config.n_heads;
      if (tensor.name.find("self_attn.k_proj") != std::string::npos) plan.permute_heads = config.n_kv_heads;
    }
    writer.add_tensor(plan.name, tensor.shape, plan.type);
    plans.push_back(plan);
    summary.parameters += tensor.rows() * tensor.row_length();
  }
  std::vector<float> rope_factors;
  if (config.rope_scaling.type == "llama3") {
    rope_factors = llama3_rope_factors(config);
    writer.add_tensor("rope_freqs.weight", {static_cast<std::int64_t>(rope_factors.size())}, GgmlType::f32);
  }

  fs::create_directories(out.parent_path().empty() ? fs::path(".") : out.parent_path());
  writer.begin(out);
  for (const auto& plan : plans) {
    stream_tensor(plan, [&](const char* bytes, std::size_t n) { writer.write_tensor_data(bytes, n); });
  }
  if (!rope_factors.empty()) writer.write_tensor_data(rope_factors.data(), rope_factors.size() * sizeof(float));
  writer.finish();
  summary.tensors = static_cast<std::int64_t>(plans.size() + (rope_factors.empty() ? 0 : 1));
  summary.files.push_back(exported(out));

  const fs::path modelfile_path = out.parent_path() / "Modelfile";
  util::write_file_atomic(modelfile_path, modelfile(out.filename().string(), source, vocab));
  summary.files.push_back(exported(modelfile_path));
}

// ---- Hugging Face folders

const char* hf_dtype_name(GgmlType type) {
  switch (type) {
    case GgmlType::f32: return "F32";
    case GgmlType::f16: return "F16";
    default: return "BF16";
  }
}

const char* torch_dtype_name(GgmlType type) {
  switch (type) {
    case GgmlType::f32: return "float32";
    case GgmlType::f16: return "float16";
    default: return "bfloat16";
  }
}

void copy_if_present(const fs::path& from_dir, const fs::path& to_dir, const char* name) {
  if (fs::is_regular_file(from_dir / name)) fs::copy_file(from_dir / name, to_dir / name, fs::copy_options::overwrite_existing);
}

void export_hf(const Source& source, const std::map<std::string, LoraUpdate>& lora, GgmlType type,
               const fs::path& out, std::uint64_t shard_size, ExportSummary& summary) {
  summary.architecture = source.folder.architecture;
  std::vector<TensorPlan> plans;
  for (const auto& tensor : source.tensors) {
    TensorPlan plan;
    plan.source = &tensor;
    plan.name = tensor.name;
    plan.type = type;
    if (auto it = lora.find(tensor.name); it != lora.end()) plan.lora = &it->second;
    plans.push_back(plan);
    summary.parameters += tensor.rows() * tensor.row_length();
  }
  summary.tensors = static_cast<std::int64_t>(plans.size());

  // shards: tensors in order, a new file when the next would pass shard_size
  std::vector<std::vector<const TensorPlan*>> shards(1);
  std::uint64_t in_shard = 0;
  std::uint64_t total = 0;
  for (const auto& plan : plans) {
    const std::uint64_t bytes =
        ggml_row_bytes(type, plan.source->row_length()) * static_cast<std::uint64_t>(plan.source->rows());
    if (!shards.back().empty() && in_shard + bytes > shard_size) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(&plan);
    in_shard += bytes;
    total += bytes;
  }

  // built beside the target and put in place whole
  fs::path target = fs::absolute(out).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  const fs::path built = target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(), ::getpid());
  fs::remove_all(built);
  fs::create_directories(built);
  struct Cleanup {
    fs::path dir;
    bool keep = false;
    ~Cleanup() {
      std::error_code ignored;
      if (!keep) fs::remove_all(dir, ignored);
    }
  } cleanup{built};

  json weight_map = json::object();
  std::vector<std::string> shard_names;
  for (std::size_t s = 0; s < shards.size(); ++s) {
    const std::string file_name = shards.size() == 1
                                      ? std::string("model.safetensors")
                                      : fmt::format("model-{:05}-of-{:05}.safetensors", s + 1, shards.size());
    json header = json::object();
    std::uint64_t offset = 0;
    for (const TensorPlan* plan : shards[s]) {
      const std::uint64_t bytes =
          ggml_row_bytes(type, plan->source->row_length()) * static_cast<std::uint64_t>(plan->source->rows());
      header[plan->name] = {{"dtype", hf_dtype_name(type)}, {"shape", plan->source->shape}, {"data_offsets", {offset, offset + bytes}}};
      offset += bytes;
      weight_map[plan->name] = file_name;
    }
    header["__metadata__"] = {{"format", "pt"}};
    std::string header_text = header.dump();
    while (header_text.size() % 8 != 0) header_text += ' ';  // the data section starts aligned
    util::AtomicFile file(built / file_name);
    std::uint64_t size = header_text.size();
    char size_bytes[8];
    std::memcpy(size_bytes, &size, 8);
    file.write(std::string_view(size_bytes, 8));
    file.write(header_text);
    for (const TensorPlan* plan : shards[s])
      stream_tensor(*plan, [&](const char* bytes, std::size_t n) { file.write(std::string_view(bytes, n)); });
    file.commit();
    shard_names.push_back(file_name);
  }
  if (shards.size() > 1) {
    json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    util::write_file_atomic(built / "model.safetensors.index.json", index.dump(2) + "\n");
  }

  json config = source.folder.config_json;
  config["torch_dtype"] = torch_dtype_name(type);
  util::write_file_atomic(built / "config.json", config.dump(2) + "\n");
  json generation = source.folder.generation_config;
  if (generation.is_null()) {
    generation = json::object();
    if (config.contains("bos_token_id")) generation["bos_token_id"] = config["bos_token_id"];
    if (config.contains("eos_token_id")) generation["eos_token_id"] = config["eos_token_id"];
    if (source.own) {
      generation["bos_token_id"] = text::k_bos_id;
      generation["eos_token_id"] = text::k_eos_id;
      generation["pad_token_id"] = text::k_pad_id;
    }
  }
  util::write_file_atomic(built / "generation_config.json", generation.dump(2) + "\n");

  for (const char* name : {"tokenizer.json", "tokenizer.model", "special_tokens_map.json", "chat_template.jinja",
                           "vocab.json", "merges.txt", "added_tokens.json"}) {
    copy_if_present(source.dir, built, name);
  }
  if (source.own) {
    json tokenizer_config = {
        {"tokenizer_class", "LlamaTokenizer"}, {"bos_token", "<s>"},         {"eos_token", "</s>"},
        {"unk_token", "<unk>"},                {"pad_token", "<pad>"},       {"add_bos_token", true},
        {"add_eos_token", false},              {"legacy", true},             {"model_max_length", source.folder.config.max_seq_len},
        {"chat_template", medcode_chat_template()},
    };
    util::write_file_atomic(built / "tokenizer_config.json", tokenizer_config.dump(2) + "\n");
    // medcode loads it back as its own model: what it was trained on, with the new files' hashes
    json info = source.info;
    info["sha256"] = json::object();
    for (const auto& file_name : shard_names) info["sha256"][file_name] = util::sha256_file_hex(built / file_name);
    info["sha256"]["config.json"] = util::sha256_file_hex(built / "config.json");
    info["sha256"]["tokenizer.model"] = util::sha256_file_hex(built / "tokenizer.model");
    if (!info.contains("extra") || !info["extra"].is_object()) info["extra"] = json::object();
    info["extra"]["exported_from"] = fs::absolute(source.dir).lexically_normal().string();
    util::write_file_atomic(built / k_info_file, info.dump(2) + "\n");
  } else {
    json tokenizer_config = fs::is_regular_file(source.dir / "tokenizer_config.json")
                                ? read_json_file(source.dir / "tokenizer_config.json")
                                : json::object();
    if (!tokenizer_config.contains("chat_template") && source.folder.chat_template &&
        !fs::is_regular_file(source.dir / "chat_template.jinja")) {
      tokenizer_config["chat_template"] = *source.folder.chat_template;
    }
    util::write_file_atomic(built / "tokenizer_config.json", tokenizer_config.dump(2) + "\n");
  }

  util::replace_directory(built, target);
  cleanup.keep = true;
  for (const auto& entry : fs::directory_iterator(target)) {
    if (entry.is_regular_file()) summary.files.push_back(exported(entry.path()));
  }
  std::sort(summary.files.begin(), summary.files.end(),
            [](const ExportedFile& x, const ExportedFile& y) { return x.path < y.path; });
}

}  // namespace

std::optional<fs::path> adapter_base_folder(const fs::path& adapter) {
  if (fs::is_regular_file(adapter / k_info_file)) {
    const json info = read_json_file(adapter / k_info_file);
    if (info.contains("base_dir") && info["base_dir"].is_string()) {
      fs::path base = info["base_dir"].get<std::string>();
      return base.is_absolute() ? base : (adapter / base).lexically_normal();
    }
  }
  if (fs::is_regular_file(adapter / k_peft_config_file)) {
    const json config = read_json_file(adapter / k_peft_config_file);
    const std::string named = config.value("base_model_name_or_path", "");
    if (!named.empty() && fs::is_directory(named)) return fs::path(named);
  }
  return std::nullopt;
}

json to_json(const ExportSummary& summary) {
  json files = json::array();
  for (const auto& file : summary.files)
    files.push_back({{"path", file.path.string()}, {"bytes", file.bytes}, {"sha256", file.sha256}});
  json out = {
      {"format", summary.format},         {"dtype", summary.dtype},     {"architecture", summary.architecture},
      {"base", summary.base.string()},    {"tensors", summary.tensors}, {"parameters", summary.parameters},
      {"notes", summary.notes},           {"files", files},             {"seconds", summary.seconds},
  };
  if (!summary.tokenizer.empty()) out["tokenizer"] = summary.tokenizer;
  out["adapter"] = summary.adapter ? json(summary.adapter->string()) : json();
  return out;
}

void record_export(store::Database& db, const ExportSummary& summary, std::optional<std::int64_t> run_id) {
  if (summary.files.empty()) return;
  const std::string now = util::utc_now_iso8601();
  const std::string export_id = fs::absolute(summary.files.front().path).lexically_normal().string() + "@" + now;
  store::Transaction transaction(db);
  auto insert = db.prepare(
      "INSERT INTO model_exports (export_id, format, dtype, architecture, base, adapter, path, bytes, sha256, "
      "exported_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  std::optional<std::string> adapter;
  if (summary.adapter) adapter = fs::absolute(*summary.adapter).lexically_normal().string();
  for (const auto& file : summary.files) {
    insert.bind_all(export_id, summary.format, summary.dtype, summary.architecture,
                    fs::absolute(summary.base).lexically_normal().string(), adapter,
                    fs::absolute(file.path).lexically_normal().string(), static_cast<std::int64_t>(file.bytes),
                    file.sha256, now, run_id);
    insert.run();
  }
  transaction.commit();
}

ExportSummary export_model(const ExportOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (options.format != "gguf" && options.format != "hf")
    fail(ExitCode::usage, "--format {} is not one of gguf, hf", options.format);
  if (options.out.empty()) fail(ExitCode::usage, "--out is required");
  if (options.format == "gguf" && options.out.extension() != ".gguf")
    fail(ExitCode::usage, "--out {}: a GGUF export is one file whose name ends in .gguf", options.out.string());
  if (options.format == "hf" && fs::is_regular_file(options.out))
    fail(ExitCode::usage, "--out {}: a Hugging Face export is a folder, and this is a file", options.out.string());

  fs::path base_dir = options.base;
  if (base_dir.empty()) {
    if (!options.adapter) fail(ExitCode::usage, "give the model with --base (and a LoRA folder with --adapter)");
    auto named = adapter_base_folder(*options.adapter);
    if (!named) {
      fail(ExitCode::usage, "{}: its base is not a folder here; give the base's folder with --base",
           options.adapter->string());
    }
    base_dir = *named;
  }
  Source source = open_source(base_dir);
  if (options.format == "hf") {
    // the folder is replaced whole: never the one being read
    const auto normal = [](const fs::path& p) { return fs::weakly_canonical(fs::absolute(p)); };
    if (normal(options.out) == normal(base_dir) || (options.adapter && normal(options.out) == normal(*options.adapter)))
      fail(ExitCode::usage, "--out {} is the model being exported; write the export elsewhere", options.out.string());
  }

  std::string dtype = options.dtype;
  std::transform(dtype.begin(), dtype.end(), dtype.begin(), [](unsigned char c) { return std::tolower(c); });
  if (dtype.empty()) {
    if (options.format == "gguf") {
      dtype = "f16";
    } else {
      dtype = source.folder.dtype == "BF16" ? "bf16" : source.folder.dtype == "F16" ? "f16" : "f32";
    }
  }
  const auto type = parse_export_type(dtype);
  if (!type) fail(ExitCode::usage, "--dtype {} is not one of f32, f16, bf16, q8_0, q4_k", options.dtype);
  if (options.format == "hf" && (*type == GgmlType::q8_0 || *type == GgmlType::q4_k))
    fail(ExitCode::usage, "--dtype {}: quantized types are GGUF's; a Hugging Face folder takes f32, f16 or bf16", dtype);

  std::map<std::string, LoraUpdate> lora;
  if (options.adapter) lora = read_adapter(*options.adapter, source.by_name);

  ExportSummary summary;
  summary.format = options.format;
  summary.dtype = dtype;
  summary.base = base_dir;
  summary.adapter = options.adapter;
  std::string name = options.name;
  if (name.empty()) name = options.format == "gguf" ? options.out.stem().string() : fs::absolute(options.out).lexically_normal().filename().string();
  if (options.format == "gguf") {
    export_gguf(source, lora, *type, options.out, name, summary);
  } else {
    export_hf(source, lora, *type, options.out, options.shard_size, summary);
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace medcode::model
