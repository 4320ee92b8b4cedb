// ggml's tensor types: their names and block layouts (ggml.c type_traits, ggml-common.h), and the encodings
// the GGUF writer produces, reproducing ggml's reference code bit for bit: ggml-impl.h's fp16 and bf16
// conversions, and ggml-quants.c's quantize_row_q8_0_ref, quantize_row_q4_K_ref (make_qkx2_quants,
// nearest_int) and their dequantize_row_* inverses.
//
// Bit-exactness rests on doing the same float operations in the same order, each rounded to float: no
// contraction into fused multiply-adds (off in ISO C++ mode, and turned off here too, for builds in a GNU
// mode or for targets with FMA), no reassociation (no -ffast-math), and ggml's own rounding tricks rather
// than library calls that might round differently.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

#include <array>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string>

#include "medcode/model/gguf.h"
#include "medcode/util/error.h"

namespace medcode::model {

namespace {

static_assert(std::endian::native == std::endian::little, "GGUF blocks are stored little-endian");

struct TypeTraits {
  std::uint32_t id;
  const char* name;
  std::int64_t block_size;
  std::uint64_t block_bytes;
};

constexpr std::int64_t k_qk_k = 256;  // elements of a k-quant super-block
constexpr std::int64_t k_qk8_0 = 32;

// Block sizes and bytes as in ggml.c's type_traits and gguf-py's GGML_QUANT_SIZES.
constexpr std::array<TypeTraits, 34> k_types = {{
    {0, "F32", 1, 4},
    {1, "F16", 1, 2},
    {2, "Q4_0", 32, 2 + 16},
    {3, "Q4_1", 32, 2 + 2 + 16},
    {6, "Q5_0", 32, 2 + 4 + 16},
    {7, "Q5_1", 32, 2 + 2 + 4 + 16},
    {8, "Q8_0", 32, 2 + 32},
    {9, "Q8_1", 32, 4 + 32},
    {10, "Q2_K", 256, 2 + 2 + 16 + 64},
    {11, "Q3_K", 256, 2 + 32 + 64 + 12},
    {12, "Q4_K", 256, 2 + 2 + 12 + 128},
    {13, "Q5_K", 256, 2 + 2 + 12 + 32 + 128},
    {14, "Q6_K", 256, 2 + 16 + 64 + 128},
    {15, "Q8_K", 256, 4 + 256 + 32},
    {16, "IQ2_XXS", 256, 2 + 64},
    {17, "IQ2_XS", 256, 2 + 64 + 8},
    {18, "IQ3_XXS", 256, 2 + 96},
    {19, "IQ1_S", 256, 2 + 32 + 16},
    {20, "IQ4_NL", 32, 2 + 16},
    {21, "IQ3_S", 256, 2 + 64 + 8 + 32 + 4},
    {22, "IQ2_S", 256, 2 + 64 + 8 + 8},
    {23, "IQ4_XS", 256, 2 + 2 + 4 + 128},
    {24, "I8", 1, 1},
    {25, "I16", 1, 2},
    {26, "I32", 1, 4},
    {27, "I64", 1, 8},
    {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 32 + 16 + 8},
    {30, "BF16", 1, 2},
    {34, "TQ1_0", 256, 2 + 4 * 13},
    {35, "TQ2_0", 256, 2 + 64},
    {39, "MXFP4", 32, 1 + 16},
    {40, "NVFP4", 64, 4 + 32},
    {41, "Q1_0", 128, 2 + 16},
}};

const TypeTraits* find_type(std::uint32_t id) {
  for (const auto& traits : k_types) {
    if (traits.id == id) return &traits;
  }
  return nullptr;
}

// ggml-common.h's block_q8_0 and block_q4_K, byte for byte.
struct BlockQ8_0 {
  std::uint16_t d;  // fp16 scale
  std::int8_t qs[k_qk8_0];
};
struct BlockQ4K {
  std::uint16_t d;          // fp16 super-block scale of the scales
  std::uint16_t dmin;       // fp16 super-block scale of the mins
  std::uint8_t scales[12];  // eight 6-bit scales and eight 6-bit mins, packed
  std::uint8_t qs[k_qk_k / 2];
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4K) == 144);

// The fp16 conversions of ggml-impl.h (after Maratyszcza's FP16 library). To fp16: scaling |f| by 2^112 then
// 2^-110 lets the FPU round to nearest even, overflow to infinity and round subnormals; adding the operand's
// own exponent (at least 2^-14's) then leaves the fp16 exponent and mantissa in the result's bits. NaN
// becomes the quiet 0x7E00 with the sign kept.
std::uint16_t fp32_to_fp16(float value) {
  float base = (std::fabs(value) * 0x1.0p+112f) * 0x1.0p-110f;
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t without_sign_shifted = bits + bits;
  const std::uint32_t sign = bits & 0x80000000u;
  std::uint32_t bias = without_sign_shifted & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = std::bit_cast<float>((bias >> 1) + 0x07800000u) + base;
  const std::uint32_t rounded = std::bit_cast<std::uint32_t>(base);
  const std::uint32_t exponent_and_mantissa = ((rounded >> 13) & 0x7C00u) + (rounded & 0x0FFFu);
  const std::uint32_t magnitude = without_sign_shifted > 0xFF000000u ? 0x7E00u : exponent_and_mantissa;
  return static_cast<std::uint16_t>((sign >> 16) | magnitude);
}

// From fp16 as ggml does it, with float arithmetic (which also quiets a signalling NaN, as ggml's does).
float fp16_to_fp32(std::uint16_t half) {
  const std::uint32_t widened = static_cast<std::uint32_t>(half) << 16;
  const std::uint32_t sign = widened & 0x80000000u;
  const std::uint32_t without_sign_shifted = widened + widened;
  const float normal = std::bit_cast<float>((without_sign_shifted >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float subnormal = std::bit_cast<float>((without_sign_shifted >> 17) | (126u << 23)) - 0.5f;
  const std::uint32_t magnitude = without_sign_shifted < (1u << 27) ? std::bit_cast<std::uint32_t>(subnormal)
                                                                    : std::bit_cast<std::uint32_t>(normal);
  return std::bit_cast<float>(sign | magnitude);
}

// bf16 is the top half of a float: round to nearest even on the dropped half; NaN keeps its top bits and is
// made quiet (ggml-impl.h's ggml_compute_fp32_to_bf16).
std::uint16_t fp32_to_bf16(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((bits >> 16) | 64u);
  return static_cast<std::uint16_t>((bits + (0x7FFFu + ((bits >> 16) & 1u))) >> 16);
}

float bf16_to_fp32(std::uint16_t value) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(value) << 16);
}

// ggml's nearest_int: adding 1.5 * 2^23 leaves no fraction bits, so the addition itself rounds to nearest
// even, and the integer sits in the low mantissa bits. Valid for |value| < 2^22; like ggml, no check.
inline int nearest_int(float value) {
  const float shifted = value + 12582912.f;
  return (std::bit_cast<std::int32_t>(shifted) & 0x007FFFFF) - 0x00400000;
}

// roundf (halves away from zero) then C's float-to-int8 conversion as x86 compiles it (truncation to 32
// bits, low byte kept; 0 for NaN and out-of-range). Done by hand because the libm call is slow on baseline
// x86-64; the subtraction x - trunc(x) is exact, so the result is roundf's.
inline std::int8_t round_to_int8(float value) {
  if (!(value > -2147483648.f && value < 2147483648.f)) return 0;
  std::int32_t truncated = static_cast<std::int32_t>(value);
  const float fraction = value - static_cast<float>(truncated);
  if (fraction >= 0.5f) ++truncated;
  if (fraction <= -0.5f) --truncated;
  return static_cast<std::int8_t>(truncated);
}

// ggml's MAX and MIN macros, whose choice with a NaN operand the encodings depend on.
inline float max_of(float a, float b) { return a > b ? a : b; }
inline int clamp_int(int value, int low, int high) {
  const int upper = high < value ? high : value;
  return low > upper ? low : upper;
}

void quantize_q8_0_block(const float* x, BlockQ8_0* block) {
  float amax = 0.0f;
  for (std::int64_t j = 0; j < k_qk8_0; ++j) amax = max_of(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  block->d = fp32_to_fp16(d);
  for (std::int64_t j = 0; j < k_qk8_0; ++j) block->qs[j] = round_to_int8(x[j] * id);
}

void dequantize_q8_0_block(const BlockQ8_0& block, float* y) {
  const float d = fp16_to_fp32(block.d);
  for (std::int64_t j = 0; j < k_qk8_0; ++j) y[j] = static_cast<float>(block.qs[j]) * d;
}

// Four sub-blocks of a Q4_K super-block at a time, one per lane (GCC/Clang vector extensions: SSE2 on
// baseline x86-64, plain code where there is no SIMD). Lane-wise float arithmetic is IEEE arithmetic, so each
// lane computes exactly what ggml's one-sub-block-at-a-time code does; four independent chains run in the
// time of one.
constexpr int k_lanes = 4;
using Lanes = float __attribute__((vector_size(4 * k_lanes)));
using IntLanes = std::int32_t __attribute__((vector_size(4 * k_lanes)));

inline IntLanes nearest_int(Lanes value) {
  const Lanes shifted = value + 12582912.f;
  return (std::bit_cast<IntLanes>(shifted) & 0x007FFFFF) - 0x00400000;
}

inline IntLanes clamp_levels(IntLanes value, std::int32_t high) {
  const IntLanes zero = {};
  const IntLanes top = zero + high;
  const IntLanes upper = top < value ? top : value;
  return zero > upper ? zero : upper;
}

inline Lanes to_float(IntLanes value) { return __builtin_convertvector(value, Lanes); }

struct SubBlockFits {
  IntLanes levels[32];  // [i][sub-block]
  Lanes scales;
  Lanes mins;  // the offsets to subtract, as ggml's the_min (>= 0)
};

// make_qkx2_quants with Q4_K's arguments (32 values, levels 0..15, rmin -1, rdelta 0.1, 20 steps, squared
// error), per lane: fits x ≈ scale * L - min by a weighted least-squares search over 21 candidate scales.
void fit_sub_blocks(const Lanes (&x)[32], const Lanes (&weights)[32], SubBlockFits& fit) {
  constexpr int n = 32;
  constexpr std::int32_t nmax = 15;
  constexpr float rmin = -1.f;
  constexpr float rdelta = 0.1f;
  constexpr int nstep = 20;
  const Lanes zero = {};
  Lanes min = x[0];
  Lanes max = x[0];
  Lanes sum_w = weights[0];
  Lanes sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = x[i] < min ? x[i] : min;
    max = x[i] > max ? x[i] : max;
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  min = min > zero ? zero : min;
  // A constant sub-block divides by zero below; its results are replaced at the end, as ggml returns early.
  const IntLanes constant = max == min;
  Lanes iscale = static_cast<float>(nmax) / (max - min);
  Lanes scale = 1 / iscale;
  Lanes best_error = zero;
  for (int i = 0; i < n; ++i) {
    fit.levels[i] = clamp_levels(nearest_int(iscale * (x[i] - min)), nmax);
    Lanes diff = scale * to_float(fit.levels[i]) + min - x[i];
    diff = diff * diff;
    best_error += weights[i] * diff;
  }
  IntLanes candidate[n];
  for (int step = 0; step <= nstep; ++step) {
    // min is the best fit's so far, as in ggml.
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (max - min);
    Lanes sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (int i = 0; i < n; ++i) {
      candidate[i] = clamp_levels(nearest_int(iscale * (x[i] - min)), nmax);
      const Lanes level = to_float(candidate[i]);
      const Lanes w = weights[i];
      sum_l += w * level;
      sum_l2 += w * level * level;
      sum_xl += w * level * x[i];
    }
    const Lanes determinant = sum_w * sum_l2 - sum_l * sum_l;
    Lanes this_scale = (sum_w * sum_xl - sum_x * sum_l) / determinant;
    Lanes this_min = (sum_l2 * sum_x - sum_l * sum_xl) / determinant;
    const IntLanes min_positive = this_min > zero;
    this_min = min_positive ? zero : this_min;
    this_scale = min_positive ? sum_xl / sum_l2 : this_scale;
    Lanes error = zero;
    for (int i = 0; i < n; ++i) {
      Lanes diff = this_scale * to_float(candidate[i]) + this_min - x[i];
      diff = diff * diff;
      error += weights[i] * diff;
    }
    // ggml skips a candidate whose determinant is not positive.
    const IntLanes better = (determinant > zero) & (error < best_error);
    for (int i = 0; i < n; ++i) fit.levels[i] = better ? candidate[i] : fit.levels[i];
    best_error = better ? error : best_error;
    scale = better ? this_scale : scale;
    min = better ? this_min : min;
  }
  for (int i = 0; i < n; ++i) fit.levels[i] = constant ? IntLanes{} : fit.levels[i];
  fit.scales = constant ? zero : scale;
  fit.mins = -min;
}

// ggml's get_scale_min_k4: sub-block j's 6-bit scale and min from the 12 packed bytes.
inline void unpack_scale_min(int j, const std::uint8_t* packed, std::uint8_t* scale, std::uint8_t* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = static_cast<std::uint8_t>((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
    *min = static_cast<std::uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

void pack_scales_and_mins(const float* scales, const float* mins, float max_scale, float max_min,
                          std::uint8_t* packed) {
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    // ggml keeps the low byte of the rounded value before capping it at 63.
    std::uint8_t ls = static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j]));
    std::uint8_t lm = static_cast<std::uint8_t>(nearest_int(inv_min * mins[j]));
    if (ls > 63) ls = 63;
    if (lm > 63) lm = 63;
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      packed[j - 4] = static_cast<std::uint8_t>(packed[j - 4] | ((ls >> 4) << 6));
      packed[j] = static_cast<std::uint8_t>(packed[j] | ((lm >> 4) << 6));
    }
  }
}

void quantize_q4_k_block(const float* x, BlockQ4K* block) {
  float scales[8];
  float mins[8];
  std::uint8_t L[k_qk_k];
  for (int first = 0; first < 8; first += k_lanes) {
    Lanes values[32];
    Lanes weights[32];
    for (int lane = 0; lane < k_lanes; ++lane) {
      const float* sub = x + 32 * (first + lane);
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += sub[l] * sub[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) {
        values[l][lane] = sub[l];
        weights[l][lane] = av_x + std::fabs(sub[l]);
      }
    }
    SubBlockFits fit;
    fit_sub_blocks(values, weights, fit);
    for (int lane = 0; lane < k_lanes; ++lane) {
      const int j = first + lane;
      scales[j] = fit.scales[lane];
      mins[j] = fit.mins[lane];
      for (int l = 0; l < 32; ++l) L[32 * j + l] = static_cast<std::uint8_t>(fit.levels[l][lane]);
    }
  }
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < 8; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  pack_scales_and_mins(scales, mins, max_scale, max_min, block->scales);
  block->d = fp32_to_fp16(max_scale / 63.f);
  block->dmin = fp32_to_fp16(max_min / 63.f);

  // Requantise against the scales as stored (6-bit, fp16), not the fitted ones; a sub-block whose stored
  // scale is 0 keeps the levels of the fit.
  for (int j = 0; j < 8; ++j) {
    std::uint8_t sc = 0, m = 0;
    unpack_scale_min(j, block->scales, &sc, &m);
    const float d = fp16_to_fp32(block->d) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = fp16_to_fp32(block->dmin) * static_cast<float>(m);
    for (int i = 0; i < 32; ++i) {
      L[32 * j + i] = static_cast<std::uint8_t>(clamp_int(nearest_int((x[32 * j + i] + dm) / d), 0, 15));
    }
  }
  // Each 32 bytes hold two sub-blocks: the first in the low nibbles, the second in the high ones.
  std::uint8_t* q = block->qs;
  for (int j = 0; j < k_qk_k; j += 64, q += 32) {
    for (int l = 0; l < 32; ++l) q[l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void dequantize_q4_k_block(const BlockQ4K& block, float* y) {
  const float d = fp16_to_fp32(block.d);
  const float min = fp16_to_fp32(block.dmin);
  const std::uint8_t* q = block.qs;
  for (int j = 0; j < 8; j += 2, q += 32) {
    std::uint8_t sc = 0, m = 0;
    unpack_scale_min(j, block.scales, &sc, &m);
    const float d1 = d * static_cast<float>(sc);
    const float m1 = min * static_cast<float>(m);
    unpack_scale_min(j + 1, block.scales, &sc, &m);
    const float d2 = d * static_cast<float>(sc);
    const float m2 = min * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
  }
}

// Blocks one at a time through a local copy: rows in a file need not be aligned for the blocks' uint16_t.
template <typename Block, typename Encode>
void encode_blocks(const float* src, std::int64_t n, std::int64_t block_size, void* dst, Encode encode) {
  auto* out = static_cast<unsigned char*>(dst);
  Block block;
  for (std::int64_t b = 0; b < n / block_size; ++b) {
    encode(src + b * block_size, &block);
    std::memcpy(out + b * sizeof(Block), &block, sizeof(Block));
  }
}

template <typename Block, typename Decode>
void decode_blocks(const void* src, std::int64_t n, std::int64_t block_size, float* dst, Decode decode) {
  const auto* in = static_cast<const unsigned char*>(src);
  Block block;
  for (std::int64_t b = 0; b < n / block_size; ++b) {
    std::memcpy(&block, in + b * sizeof(Block), sizeof(Block));
    decode(block, dst + b * block_size);
  }
}

void check_row(GgmlType type, std::int64_t n, const char* what) {
  const std::int64_t block = ggml_block_size(static_cast<std::uint32_t>(type));
  if (n < 0 || block == 0 || n % block != 0) {
    fail(ExitCode::usage, "{}: a row of {} elements cannot be {} as {}", what, n,
         std::string_view(what) == "quantize_row" ? "encoded" : "decoded",
         ggml_type_name(static_cast<std::uint32_t>(type)));
  }
}

}  // namespace

std::string ggml_type_name(std::uint32_t type) {
  const auto* traits = find_type(type);
  return traits ? traits->name : "type " + std::to_string(type);
}

std::int64_t ggml_block_size(std::uint32_t type) {
  const auto* traits = find_type(type);
  return traits ? traits->block_size : 0;
}

std::uint64_t ggml_block_bytes(std::uint32_t type) {
  const auto* traits = find_type(type);
  return traits ? traits->block_bytes : 0;
}

std::uint64_t ggml_row_bytes(GgmlType type, std::int64_t n) {
  const auto* traits = find_type(static_cast<std::uint32_t>(type));
  if (!traits) fail(ExitCode::usage, "unknown ggml type {}", static_cast<std::uint32_t>(type));
  if (n < 0 || n % traits->block_size != 0) {
    fail(ExitCode::usage, "a row of {} elements is not a whole number of {} blocks ({} elements each)", n,
         traits->name, traits->block_size);
  }
  return static_cast<std::uint64_t>(n / traits->block_size) * traits->block_bytes;
}

std::optional<GgmlType> parse_export_type(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "f32") return GgmlType::f32;
  if (lower == "f16") return GgmlType::f16;
  if (lower == "bf16") return GgmlType::bf16;
  if (lower == "q8_0") return GgmlType::q8_0;
  if (lower == "q4_k") return GgmlType::q4_k;
  return std::nullopt;
}

void quantize_row(GgmlType type, const float* src, std::int64_t n, void* dst) {
  check_row(type, n, "quantize_row");
  switch (type) {
    case GgmlType::f32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case GgmlType::f16:
    case GgmlType::bf16: {
      // Through memcpy: dst need not be aligned for uint16_t.
      auto* out = static_cast<unsigned char*>(dst);
      const bool half = type == GgmlType::f16;
      for (std::int64_t i = 0; i < n; ++i) {
        const std::uint16_t value = half ? fp32_to_fp16(src[i]) : fp32_to_bf16(src[i]);
        std::memcpy(out + 2 * i, &value, 2);
      }
      return;
    }
    case GgmlType::q8_0:
      encode_blocks<BlockQ8_0>(src, n, k_qk8_0, dst, quantize_q8_0_block);
      return;
    case GgmlType::q4_k:
      encode_blocks<BlockQ4K>(src, n, k_qk_k, dst, quantize_q4_k_block);
      return;
    default:
      fail(ExitCode::usage, "cannot encode tensors as {}: the writer produces F32, F16, BF16, Q8_0 and Q4_K",
           ggml_type_name(static_cast<std::uint32_t>(type)));
  }
}

void dequantize_row(GgmlType type, const void* src, std::int64_t n, float* dst) {
  check_row(type, n, "dequantize_row");
  const auto* in = static_cast<const unsigned char*>(src);
  switch (type) {
    case GgmlType::f32:
      std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
      return;
    case GgmlType::f16:
    case GgmlType::bf16: {
      const bool half = type == GgmlType::f16;
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint16_t value = 0;
        std::memcpy(&value, in + 2 * i, 2);
        dst[i] = half ? fp16_to_fp32(value) : bf16_to_fp32(value);
      }
      return;
    }
    case GgmlType::q8_0:
      decode_blocks<BlockQ8_0>(src, n, k_qk8_0, dst, dequantize_q8_0_block);
      return;
    case GgmlType::q4_k:
      decode_blocks<BlockQ4K>(src, n, k_qk_k, dst, dequantize_q4_k_block);
      return;
    default:
      fail(ExitCode::usage, "cannot decode {} tensors: only F32, F16, BF16, Q8_0 and Q4_K",
           ggml_type_name(static_cast<std::uint32_t>(type)));
  }
}

}  // namespace medcode::model
