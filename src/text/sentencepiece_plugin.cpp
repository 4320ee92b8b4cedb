// libmedcode_sentencepiece: SentencePiece behind a C interface (sentencepiece_plugin.h), built as its own
// shared library so that the medcode binary, which links LibTorch, can load it with RTLD_DEEPBIND.
#include "sentencepiece_plugin.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

// Exported by libsentencepiece but not declared in its installed headers.
namespace sentencepiece::logging {
void SetMinLogLevel(int level);
}  // namespace sentencepiece::logging

struct MedcodeSpmModel {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

thread_local std::string t_last_error;

int failed(std::string message) {
  t_last_error = std::move(message);
  return 1;
}

int failed(const sentencepiece::util::Status& status) { return failed(status.ToString()); }

// Hands SentencePiece the sentences from memory, so training needs no temporary corpus file.
class SpanSentenceIterator : public sentencepiece::SentenceIterator {
 public:
  SpanSentenceIterator(const char* const* sentences, const std::size_t* sentence_bytes,
                       std::size_t n_sentences)
      : m_sentences(sentences), m_sentence_bytes(sentence_bytes), m_n_sentences(n_sentences) {
    load();
  }
  bool done() const override { return m_index >= m_n_sentences; }
  void Next() override {
    ++m_index;
    load();
  }
  const std::string& value() const override { return m_value; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (!done()) m_value.assign(m_sentences[m_index], m_sentence_bytes[m_index]);
  }
  const char* const* m_sentences;
  const std::size_t* m_sentence_bytes;
  std::size_t m_n_sentences;
  std::size_t m_index = 0;
  std::string m_value;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int medcode_spm_abi_version(void) { return MEDCODE_SPM_ABI_VERSION; }

__attribute__((visibility("default"))) const char* medcode_spm_last_error(void) {
  return t_last_error.c_str();
}

__attribute__((visibility("default"))) int medcode_spm_train(const char* const* keys,
                                                             const char* const* values, std::size_t n_flags,
                                                             const char* const* sentences,
                                                             const std::size_t* sentence_bytes,
                                                             std::size_t n_sentences, std::uint32_t seed,
                                                             MedcodeSpmTextSink model_sink, void* context) {
  try {
    std::unordered_map<std::string, std::string> flags;
    for (std::size_t i = 0; i < n_flags; ++i) flags[keys[i]] = values[i];
    if (auto level = flags.find("minloglevel"); level != flags.end()) {
      sentencepiece::logging::SetMinLogLevel(std::stoi(level->second));
    }
    sentencepiece::SetRandomGeneratorSeed(seed);
    SpanSentenceIterator iterator(sentences, sentence_bytes, n_sentences);
    std::string model;
    sentencepiece::util::Status status = sentencepiece::SentencePieceTrainer::Train(flags, &iterator, &model);
    if (!status.ok()) return failed(status);
    model_sink(context, model.data(), model.size());
    return 0;
  } catch (const std::exception& e) {
    return failed(e.what());
  }
}

__attribute__((visibility("default"))) MedcodeSpmModel* medcode_spm_load(const char* model_path) {
  try {
    auto model = std::make_unique<MedcodeSpmModel>();
    sentencepiece::util::Status status = model->processor.Load(model_path);
    if (!status.ok()) {
      failed(status);
      return nullptr;
    }
    return model.release();
  } catch (const std::exception& e) {
    failed(e.what());
    return nullptr;
  }
}

__attribute__((visibility("default"))) void medcode_spm_free(MedcodeSpmModel* model) { delete model; }

__attribute__((visibility("default"))) int medcode_spm_encode(const MedcodeSpmModel* model, const char* text,
                                                              std::size_t n_bytes, MedcodeSpmIdSink sink,
                                                              void* context) {
  try {
    std::vector<int> ids;
    sentencepiece::util::Status status = model->processor.Encode(std::string_view(text, n_bytes), &ids);
    if (!status.ok()) return failed(status);
    static_assert(sizeof(int) == sizeof(std::int32_t));
    sink(context, reinterpret_cast<const std::int32_t*>(ids.data()), ids.size());
    return 0;
  } catch (const std::exception& e) {
    return failed(e.what());
  }
}

__attribute__((visibility("default"))) int medcode_spm_decode(const MedcodeSpmModel* model,
                                                              const std::int32_t* ids, std::size_t n_ids,
                                                              MedcodeSpmTextSink sink, void* context) {
  try {
    std::vector<int> id_list(ids, ids + n_ids);
    const int vocab_size = model->processor.GetPieceSize();
    for (int id : id_list) {
      if (id < 0 || id >= vocab_size) return failed("token id " + std::to_string(id) + " is out of range");
    }
    std::string text;
    sentencepiece::util::Status status = model->processor.Decode(id_list, &text);
    if (!status.ok()) return failed(status);
    sink(context, text.data(), text.size());
    return 0;
  } catch (const std::exception& e) {
    return failed(e.what());
  }
}

__attribute__((visibility("default"))) int medcode_spm_id_to_piece(const MedcodeSpmModel* model,
                                                                   std::int32_t id, MedcodeSpmTextSink sink,
                                                                   void* context) {
  try {
    if (id < 0 || id >= model->processor.GetPieceSize()) {
      return failed("token id " + std::to_string(id) + " is out of range");
    }
    const std::string& piece = model->processor.IdToPiece(id);
    sink(context, piece.data(), piece.size());
    return 0;
  } catch (const std::exception& e) {
    return failed(e.what());
  }
}

__attribute__((visibility("default"))) std::int32_t medcode_spm_piece_to_id(const MedcodeSpmModel* model,
                                                                            const char* piece,
                                                                            std::size_t n_bytes) {
  try {
    std::string_view wanted(piece, n_bytes);
    // SentencePiece answers the unknown id for a piece it lacks; only the unknown piece itself maps there.
    int id = model->processor.PieceToId(wanted);
    if (id == model->processor.unk_id() && model->processor.IdToPiece(id) != wanted) return -1;
    return id;
  } catch (const std::exception& e) {
    failed(e.what());
    return -1;
  }
}

__attribute__((visibility("default"))) int medcode_spm_vocab_size(const MedcodeSpmModel* model) {
  return model->processor.GetPieceSize();
}

__attribute__((visibility("default"))) float medcode_spm_score(const MedcodeSpmModel* model,
                                                               std::int32_t id) {
  if (id < 0 || id >= model->processor.GetPieceSize()) return 0;
  return model->processor.GetScore(id);
}

}  // extern "C"
