// Checks that SentencePiece (the tokenizer library) is found, links and runs on this machine. It lives in its
// own test program: Debian's libsentencepiece carries a private protobuf 3.14 whose exported symbols clash with
// the libprotobuf 3.21 that LibTorch loads, so the two cannot share one process image.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

namespace {

TEST(SentencePiece, ReportsAMissingModelAsAnError) {
  sentencepiece::SentencePieceProcessor processor;
  auto status = processor.Load("/nonexistent/model.spm");
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(status.ToString().empty());
}

}  // namespace
