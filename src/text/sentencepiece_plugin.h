// The C interface of libmedcode_sentencepiece, the plugin that holds SentencePiece. tokenizer.cpp opens it
// with dlopen(RTLD_LOCAL | RTLD_DEEPBIND) so that its private protobuf never meets the one LibTorch loads.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

// Raised whenever a function below changes meaning; tokenizer.cpp refuses a plugin of another version.
#define MEDCODE_SPM_ABI_VERSION 1

typedef struct MedcodeSpmModel MedcodeSpmModel;

// Receive a result without memory crossing the library boundary: the data is valid only during the call.
typedef void (*MedcodeSpmIdSink)(void* context, const std::int32_t* ids, std::size_t n_ids);
typedef void (*MedcodeSpmTextSink)(void* context, const char* text, std::size_t n_bytes);

int medcode_spm_abi_version(void);
// The message of the last failure on this thread ("" when none).
const char* medcode_spm_last_error(void);

// Trains a model from trainer flags (key=value pairs, values as SentencePiece's flags take them) on the given
// sentences; `seed` seeds SentencePiece's random generator (input sampling and shuffling). The serialized
// model goes to `model_sink` and no file is written. 0 on success.
int medcode_spm_train(const char* const* keys, const char* const* values, std::size_t n_flags,
                      const char* const* sentences, const std::size_t* sentence_bytes,
                      std::size_t n_sentences, std::uint32_t seed, MedcodeSpmTextSink model_sink,
                      void* context);

// A loaded model, or null (see medcode_spm_last_error).
MedcodeSpmModel* medcode_spm_load(const char* model_path);
void medcode_spm_free(MedcodeSpmModel* model);

// 0 on success. Safe to call from several threads on one model.
int medcode_spm_encode(const MedcodeSpmModel* model, const char* text, std::size_t n_bytes,
                       MedcodeSpmIdSink sink, void* context);
int medcode_spm_decode(const MedcodeSpmModel* model, const std::int32_t* ids, std::size_t n_ids,
                       MedcodeSpmTextSink sink, void* context);
// 0 on success; an id outside the vocabulary is an error.
int medcode_spm_id_to_piece(const MedcodeSpmModel* model, std::int32_t id, MedcodeSpmTextSink sink,
                            void* context);
// -1 when the piece is not in the vocabulary.
std::int32_t medcode_spm_piece_to_id(const MedcodeSpmModel* model, const char* piece, std::size_t n_bytes);
int medcode_spm_vocab_size(const MedcodeSpmModel* model);
// The piece's score (log probability for unigram, merge rank for BPE); 0 for an id outside the vocabulary.
float medcode_spm_score(const MedcodeSpmModel* model, std::int32_t id);

}  // extern "C"
