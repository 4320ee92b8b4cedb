// SentencePiece's model file read directly (sentencepiece_model.proto, protobuf wire format), for export: its
// pieces, scores and types and its normalizer's settings become a GGUF's tokenizer. Reading the few fields by
// hand keeps export free of the SentencePiece plugin and of protobuf.
#include <cstring>

#include "medcode/model/gguf_vocab.h"
#include "medcode/util/error.h"
#include "medcode/util/files.h"

namespace medcode::model {

namespace {

// One level of a protobuf message: fields as (number, wire type, value or bytes).
class WireReader {
 public:
  WireReader(std::string_view bytes, const std::filesystem::path& path) : m_bytes(bytes), m_path(path) {}

  bool done() const { return m_pos >= m_bytes.size(); }

  struct Field {
    std::uint32_t number = 0;
    std::uint32_t wire_type = 0;
    std::uint64_t varint = 0;    // wire type 0
    std::uint32_t fixed32 = 0;   // wire type 5
    std::string_view bytes;      // wire type 2
  };

  Field next() {
    Field field;
    const std::uint64_t key = varint();
    field.number = static_cast<std::uint32_t>(key >> 3);
    field.wire_type = static_cast<std::uint32_t>(key & 7);
    switch (field.wire_type) {
      case 0:
        field.varint = varint();
        break;
      case 1:
        need(8);
        m_pos += 8;
        break;
      case 2: {
        const std::uint64_t length = varint();
        need(length);
        field.bytes = m_bytes.substr(m_pos, length);
        m_pos += length;
        break;
      }
      case 5:
        need(4);
        std::memcpy(&field.fixed32, m_bytes.data() + m_pos, 4);
        m_pos += 4;
        break;
      default:
        bad("an unknown protobuf wire type");
    }
    return field;
  }

 private:
  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1);
      const auto byte = static_cast<std::uint8_t>(m_bytes[m_pos++]);
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    bad("a varint longer than 10 bytes");
  }
  void need(std::uint64_t n) {
    if (n > m_bytes.size() - m_pos) bad("a field that runs past the end");
  }
  [[noreturn]] void bad(const char* what) {
    fail(ExitCode::bad_input, "{}: not a SentencePiece model ({})", m_path.string(), what);
  }

  std::string_view m_bytes;
  std::size_t m_pos = 0;
  const std::filesystem::path& m_path;
};

float as_float(std::uint32_t bits) {
  float value = 0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace

SentencePieceModel read_sentencepiece_model(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) fail(ExitCode::bad_input, "{}: no such file", path.string());
  const std::string bytes = util::read_file(path);
  SentencePieceModel model;
  WireReader top(bytes, path);
  while (!top.done()) {
    const auto field = top.next();
    if (field.number == 1 && field.wire_type == 2) {  // repeated SentencePiece pieces
      SentencePieceModel::Piece piece;
      WireReader reader(field.bytes, path);
      while (!reader.done()) {
        const auto f = reader.next();
        if (f.number == 1 && f.wire_type == 2) piece.text = std::string(f.bytes);
        if (f.number == 2 && f.wire_type == 5) piece.score = as_float(f.fixed32);
        if (f.number == 3 && f.wire_type == 0) piece.type = static_cast<std::int32_t>(f.varint);
      }
      model.pieces.push_back(std::move(piece));
    } else if (field.number == 2 && field.wire_type == 2) {  // TrainerSpec
      WireReader reader(field.bytes, path);
      while (!reader.done()) {
        const auto f = reader.next();
        if (f.number == 3 && f.wire_type == 0) model.model_type = static_cast<std::int32_t>(f.varint);
        if (f.number == 35 && f.wire_type == 0) model.byte_fallback = f.varint != 0;
      }
    } else if (field.number == 3 && field.wire_type == 2) {  // NormalizerSpec
      WireReader reader(field.bytes, path);
      while (!reader.done()) {
        const auto f = reader.next();
        if (f.number == 1 && f.wire_type == 2) model.normalizer_name = std::string(f.bytes);
        if (f.number == 2 && f.wire_type == 2) model.precompiled_charsmap = std::string(f.bytes);
        if (f.number == 3 && f.wire_type == 0) model.add_dummy_prefix = f.varint != 0;
        if (f.number == 4 && f.wire_type == 0) model.remove_extra_whitespaces = f.varint != 0;
        if (f.number == 5 && f.wire_type == 0) model.escape_whitespaces = f.varint != 0;
      }
    }
  }
  if (model.pieces.empty()) fail(ExitCode::bad_input, "{}: not a SentencePiece model (no pieces)", path.string());
  return model;
}

}  // namespace medcode::model
