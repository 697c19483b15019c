// The loader's fast image path: JPEG decoding with libjpeg-turbo and the
// bicubic resampling that PIL (and so torchvision/open_clip) uses.
//
// Why not sharp for these: on a 500x375 JPEG, sharp (libvips + mozjpeg,
// several thread hand-offs per image) spends ~2.1 ms decoding where
// libjpeg-turbo called directly takes ~0.55 ms; JPEG is nearly all web
// data. sharp still decodes everything else (PNG, WebP, CMYK, EXIF-rotated,
// ICC-tagged, damaged files) and this file's resampler crops and resizes
// whatever was decoded, so every image goes through one resize.
//
// The resampler follows Pillow's published algorithm (Resample.c): a
// separable convolution, horizontal pass first into an 8-bit intermediate,
// then vertical; Keys cubic with a = -0.5 widened by the scale when
// shrinking; weights normalized per output pixel and applied in 22-bit
// fixed point. With the same libjpeg-turbo decode, the pixels equal
// torchvision's PIL pipeline bit for bit (checked in
// test/data/resample.test.ts against shipped PIL outputs).
//
// All calls are synchronous: they run on the decode worker's own thread.
#include <napi.h>

#include <csetjmp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <tmmintrin.h>
#endif

namespace {

// ---------------------------------------------------------------- JPEG --

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  int warnings;
};

void OnError(j_common_ptr cinfo) {
  ErrorMgr* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  longjmp(err->jump, 1);
}

// libjpeg "warnings" include corrupt or truncated data (it then fills the
// rest with grey). Count them: the caller hands such files to sharp, which
// rejects them with a message, so bad input is reported one way.
void OnMessage(j_common_ptr cinfo, int level) {
  if (level < 0) reinterpret_cast<ErrorMgr*>(cinfo->err)->warnings++;
}

// EXIF orientation (tag 0x0112 in IFD0) from an APP1 "Exif\0\0" payload; 0 if
// the payload is not Exif, 1 if it has no orientation.
int ExifOrientation(const uint8_t* p, size_t n) {
  if (n < 6 || std::memcmp(p, "Exif\0\0", 6) != 0) return 0;
  if (n < 14) return 1;
  const uint8_t* t = p + 6;
  size_t len = n - 6;
  bool le = t[0] == 'I' && t[1] == 'I';
  if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
  auto u16 = [&](size_t o) -> uint32_t { return le ? t[o] | (t[o + 1] << 8) : (t[o] << 8) | t[o + 1]; };
  auto u32 = [&](size_t o) -> uint32_t {
    return le ? t[o] | (t[o + 1] << 8) | (t[o + 2] << 16) | (uint32_t(t[o + 3]) << 24)
              : (uint32_t(t[o]) << 24) | (t[o + 1] << 16) | (t[o + 2] << 8) | t[o + 3];
  };
  // size_t throughout: a hostile offset near 2^32 must not wrap past the check.
  const size_t ifd = u32(4);
  if (ifd + 2 > len) return 1;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; i++) {
    const size_t e = ifd + 2 + 12 * i;
    if (e + 12 > len) return 1;
    if (u16(e) == 0x0112) return int(u16(e + 8));
  }
  return 1;
}

struct Decoder {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  Decoder() {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = OnError;
    err.pub.emit_message = OnMessage;
    err.warnings = 0;
    jpeg_create_decompress(&cinfo);
  }
  ~Decoder() { jpeg_destroy_decompress(&cinfo); }
};

struct Header {
  int width = 0, height = 0;
  bool plain = false;
};

// setjmp lives in these two small functions, whose caller owns every object
// they change, so a longjmp out of libjpeg leaves nothing half-built.
bool ReadHeader(Decoder& d, const uint8_t* data, size_t size, Header* h) {
  if (setjmp(d.err.jump)) return false;
  jpeg_mem_src(&d.cinfo, data, size);
  jpeg_save_markers(&d.cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_save_markers(&d.cinfo, JPEG_APP0 + 2, 0xffff);
  jpeg_read_header(&d.cinfo, TRUE);
  int orientation = 0;
  bool icc = false;
  for (jpeg_saved_marker_ptr m = d.cinfo.marker_list; m; m = m->next) {
    // The first Exif APP1 counts; XMP and other APP1 segments are not Exif (0).
    if (m->marker == JPEG_APP0 + 1 && orientation == 0) orientation = ExifOrientation(m->data, m->data_length);
    if (m->marker == JPEG_APP0 + 2 && m->data_length >= 12 && std::memcmp(m->data, "ICC_PROFILE\0", 12) == 0) icc = true;
  }
  J_COLOR_SPACE cs = d.cinfo.jpeg_color_space;
  bool colours = cs == JCS_YCbCr || cs == JCS_GRAYSCALE || cs == JCS_RGB;
  h->width = int(d.cinfo.image_width);
  h->height = int(d.cinfo.image_height);
  h->plain = colours && orientation <= 1 && !icc && d.cinfo.data_precision == 8;
  return true;
}

bool DecodeRgb(Decoder& d, const uint8_t* data, size_t size, std::vector<uint8_t>* rgb, int* width, int* height) {
  if (setjmp(d.err.jump)) return false;
  jpeg_mem_src(&d.cinfo, data, size);
  jpeg_read_header(&d.cinfo, TRUE);
  d.cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&d.cinfo);
  const size_t stride = size_t(d.cinfo.output_width) * 3;
  rgb->resize(stride * d.cinfo.output_height);
  while (d.cinfo.output_scanline < d.cinfo.output_height) {
    JSAMPROW rows[16];
    JDIMENSION want = std::min<JDIMENSION>(16, d.cinfo.output_height - d.cinfo.output_scanline);
    for (JDIMENSION k = 0; k < want; k++) rows[k] = rgb->data() + (d.cinfo.output_scanline + k) * stride;
    jpeg_read_scanlines(&d.cinfo, rows, want);
  }
  jpeg_finish_decompress(&d.cinfo);
  *width = int(d.cinfo.output_width);
  *height = int(d.cinfo.output_height);
  return d.err.warnings == 0;
}

// jpegInfo(bytes) -> { width, height, plain } | null (not a readable JPEG).
// `plain` means decoding it here gives what sharp's path would: YCbCr, grey
// or RGB, 8-bit, no EXIF rotation, no ICC profile to apply.
Napi::Value JpegInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto bytes = info[0].As<Napi::Uint8Array>();
  Decoder d;
  Header h;
  if (!ReadHeader(d, bytes.Data(), bytes.ByteLength(), &h)) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("width", double(h.width));
  out.Set("height", double(h.height));
  out.Set("plain", h.plain);
  return out;
}

// ---------------------------------------------------------- resampling --

constexpr int kPrecisionBits = 32 - 8 - 2;

double Bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

// Fixed-point weights for output pixels [first, first+count) of a resize of
// `in` source pixels to `outFull`: per output pixel, the first source pixel
// and the number of taps, then `ksize` weights.
struct Coeffs {
  int ksize = 0;
  std::vector<int> start, taps;
  std::vector<int32_t> k;
};

Coeffs Precompute(int in, int outFull, int first, int count) {
  Coeffs c;
  double scale = double(in) / outFull;
  double filterscale = scale < 1 ? 1 : scale;
  double support = 2.0 * filterscale;
  double ss = 1.0 / filterscale;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.start.resize(count);
  c.taps.resize(count);
  c.k.assign(size_t(count) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int i = 0; i < count; i++) {
    double center = (first + i + 0.5) * scale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    double sum = 0;
    for (int x = 0; x < xmax; x++) sum += (w[x] = Bicubic((x + xmin - center + 0.5) * ss));
    for (int x = 0; x < xmax; x++) {
      double v = sum != 0 ? w[x] / sum : w[x];
      c.k[size_t(i) * c.ksize + x] = int32_t(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    c.start[i] = xmin;
    c.taps[i] = xmax;
  }
  return c;
}

inline uint8_t Clip8(int32_t acc) {
  int32_t v = acc >> kPrecisionBits;
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// The vertical pass vectorizes on its own; let it use AVX2 where present.
#define CLIPTS_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLIPTS_CLONES
#endif

// One output pixel of the horizontal pass: taps over RGB pixels at p.
inline void HorizontalPixel(const uint8_t* p, const int32_t* k, int taps, uint8_t* out) {
  int32_t r = 1 << (kPrecisionBits - 1), g = r, b = r;
  for (int t = 0; t < taps; t++) {
    r += p[3 * t] * k[t];
    g += p[3 * t + 1] * k[t];
    b += p[3 * t + 2] * k[t];
  }
  out[0] = Clip8(r);
  out[1] = Clip8(g);
  out[2] = Clip8(b);
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same with SSSE3, two taps per step and four rows at a time. A step loads 8 bytes (two RGB
// pixels and two spare), spreads them into 16-bit lanes r0 r1 g0 g1 b0 b1 0 0,
// and pmaddwd multiplies-and-adds each pair with its two weights. pmaddwd
// takes 16-bit weights, so each 22-bit weight k is split as k = hi*2^11 + lo
// (lo in [0, 2^11)) and the two sums are recombined: the integer result, and
// so every output byte, is exactly the scalar loop's.
constexpr int kLoBits = 11;

// Per output pixel, per pair of taps: 8 int16 weights for the high and the
// low halves, laid out to match the spread pixel lanes.
struct PairWeights {
  int pairsMax = 0;
  std::vector<int16_t> hi, lo;
};

PairWeights SplitWeights(const Coeffs& c, int outW) {
  PairWeights w;
  w.pairsMax = (c.ksize + 1) / 2;
  w.hi.assign(size_t(outW) * w.pairsMax * 8, 0);
  w.lo.assign(size_t(outW) * w.pairsMax * 8, 0);
  for (int i = 0; i < outW; i++) {
    for (int t = 0; t < c.taps[i]; t++) {
      const int32_t k = c.k[size_t(i) * c.ksize + t];
      const size_t at = (size_t(i) * w.pairsMax + t / 2) * 8 + (t & 1);
      for (int ch = 0; ch < 3; ch++) {
        w.hi[at + 2 * ch] = int16_t(k >> kLoBits);
        w.lo[at + 2 * ch] = int16_t(k & ((1 << kLoBits) - 1));
      }
    }
  }
  return w;
}

// Four rows at once: the rows share every weight and offset, so each pair
// of weights is loaded once for four pixels. Rows past `rows` (< 4) repeat the
// last one and are not stored. A pixel whose last 8-byte load would pass
// `end` goes through the scalar loop.
__attribute__((target("ssse3"))) void HorizontalRowsSsse3(const uint8_t* row, size_t stride, int rows, const uint8_t* end, const Coeffs& c, const PairWeights& w, int outW, uint8_t* out) {
  const __m128i spread = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
  const __m128i half = _mm_set1_epi32(1 << (kPrecisionBits - 1));
  const uint8_t* r[4];
  for (int q = 0; q < 4; q++) r[q] = row + size_t(q < rows ? q : rows - 1) * stride;
  const size_t outStride = size_t(outW) * 3;
  for (int i = 0; i < outW; i++) {
    const size_t off = size_t(c.start[i]) * 3;
    const int pairs = (c.taps[i] + 1) / 2;
    if (r[3] + off + 6 * pairs + 2 > end) {
      for (int q = 0; q < rows; q++) HorizontalPixel(r[q] + off, &c.k[size_t(i) * c.ksize], c.taps[i], out + q * outStride + 3 * i);
      continue;
    }
    const __m128i* hi = reinterpret_cast<const __m128i*>(&w.hi[size_t(i) * w.pairsMax * 8]);
    const __m128i* lo = reinterpret_cast<const __m128i*>(&w.lo[size_t(i) * w.pairsMax * 8]);
    __m128i h0 = _mm_setzero_si128(), h1 = h0, h2 = h0, h3 = h0, l0 = h0, l1 = h0, l2 = h0, l3 = h0;
    for (int j = 0; j < pairs; j++) {
      const __m128i wh = _mm_loadu_si128(hi + j), wl = _mm_loadu_si128(lo + j);
      const size_t at = off + 6 * j;
      __m128i p0 = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r[0] + at)), spread);
      __m128i p1 = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r[1] + at)), spread);
      __m128i p2 = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r[2] + at)), spread);
      __m128i p3 = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r[3] + at)), spread);
      h0 = _mm_add_epi32(h0, _mm_madd_epi16(p0, wh)); l0 = _mm_add_epi32(l0, _mm_madd_epi16(p0, wl));
      h1 = _mm_add_epi32(h1, _mm_madd_epi16(p1, wh)); l1 = _mm_add_epi32(l1, _mm_madd_epi16(p1, wl));
      h2 = _mm_add_epi32(h2, _mm_madd_epi16(p2, wh)); l2 = _mm_add_epi32(l2, _mm_madd_epi16(p2, wl));
      h3 = _mm_add_epi32(h3, _mm_madd_epi16(p3, wh)); l3 = _mm_add_epi32(l3, _mm_madd_epi16(p3, wl));
    }
    // (hi << 11) + lo + half, >> 22, then saturate to [0, 255]: Clip8 on each lane.
    auto finish = [&](__m128i h, __m128i l) {
      return _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h, kLoBits), l), half), kPrecisionBits);
    };
    const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(finish(h0, l0), finish(h1, l1)), _mm_packs_epi32(finish(h2, l2), finish(h3, l3)));
    alignas(16) uint8_t px[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(px), bytes);
    for (int q = 0; q < rows; q++) std::memcpy(out + q * outStride + 3 * i, px + 4 * q, 3);
  }
}
const bool kHaveSsse3 = __builtin_cpu_supports("ssse3");
#endif

// Rows [y0, y1) of src (RGB, `srcStride` bytes a row, starting at column
// `x0`; `end` is the end of the pixel buffer) -> tmp (RGB, outW wide).
void Horizontal(const uint8_t* src, size_t srcStride, const uint8_t* end, int x0, int y0, int y1, const Coeffs& c, int outW, uint8_t* tmp) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (kHaveSsse3) {
    const PairWeights w = SplitWeights(c, outW);
    for (int y = y0; y < y1; y += 4) {
      HorizontalRowsSsse3(src + size_t(y) * srcStride + size_t(x0) * 3, srcStride, std::min(4, y1 - y), end, c, w, outW, tmp + size_t(y - y0) * outW * 3);
    }
    return;
  }
#endif
  for (int y = y0; y < y1; y++) {
    const uint8_t* row = src + size_t(y) * srcStride + size_t(x0) * 3;
    uint8_t* out = tmp + size_t(y - y0) * outW * 3;
    for (int i = 0; i < outW; i++) {
      HorizontalPixel(row + size_t(c.start[i]) * 3, &c.k[size_t(i) * c.ksize], c.taps[i], out + 3 * i);
    }
  }
}

// tmp rows (RGB, width w, rows relative to `rowBase`) -> out (outH rows).
CLIPTS_CLONES void Vertical(const uint8_t* tmp, int w, int rowBase, const Coeffs& c, int outH, uint8_t* out) {
  const int n = w * 3;
  std::vector<int32_t> acc(n);
  for (int j = 0; j < outH; j++) {
    const int32_t* k = &c.k[size_t(j) * c.ksize];
    for (int x = 0; x < n; x++) acc[x] = 1 << (kPrecisionBits - 1);
    for (int t = 0; t < c.taps[j]; t++) {
      const uint8_t* row = tmp + size_t(c.start[j] - rowBase + t) * n;
      const int32_t kt = k[t];
      for (int x = 0; x < n; x++) acc[x] += row[x] * kt;
    }
    uint8_t* o = out + size_t(j) * n;
    for (int x = 0; x < n; x++) o[x] = Clip8(acc[x]);
  }
}

// Where the output comes from: the region {left, top, width, height} of the
// RGB image is taken as an image of its own (as PIL's crop() does: no pixels
// outside it contribute) and resized to resizeW x resizeH; the output is the
// window [outLeft, outLeft+outW) x [outTop, outTop+outH) of that resize.
// Train crops take the whole window; eval's resize + center crop takes the
// center window, computing only what is kept.
struct Plan {
  int left, top, rw, rh, resizeW, resizeH, outLeft, outTop, outW, outH;
};

// Reads the plan from JS arguments (region object, then six numbers).
Plan ReadPlan(const Napi::CallbackInfo& info, size_t at, int width, int height) {
  Napi::Env env = info.Env();
  auto region = info[at].As<Napi::Object>();
  auto num = [&](const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); };
  Plan p{num(region.Get("left")), num(region.Get("top")), num(region.Get("width")), num(region.Get("height")),
         num(info[at + 1]), num(info[at + 2]), num(info[at + 3]), num(info[at + 4]), num(info[at + 5]), num(info[at + 6])};
  // int64 sums: absurd arguments from JS must fail the check, not wrap past it.
  if (p.left < 0 || p.top < 0 || p.rw <= 0 || p.rh <= 0 || int64_t(p.left) + p.rw > width || int64_t(p.top) + p.rh > height) {
    throw Napi::RangeError::New(env, "resample: region outside the image");
  }
  if (p.outW <= 0 || p.outH <= 0 || p.outLeft < 0 || p.outTop < 0 || int64_t(p.outLeft) + p.outW > p.resizeW ||
      int64_t(p.outTop) + p.outH > p.resizeH) {
    throw Napi::RangeError::New(env, "resample: output window outside the resized image");
  }
  return p;
}

// A rare huge image must not pin its buffer in every worker for good.
template <typename T>
void ReleaseIfHuge(std::vector<T>& v) {
  if (v.capacity() * sizeof(T) > (size_t(32) << 20)) std::vector<T>().swap(v);
}

// The resize itself, into `out` (outW x outH x 3). The intermediate lives in
// a per-thread buffer: decode workers resize one image after another, and
// reusing it spares a fresh (page-faulting) allocation per image.
void ResampleInto(const uint8_t* src, int width, int height, const Plan& p, uint8_t* out) {
  thread_local std::vector<uint8_t> tmp;
  struct Release {
    ~Release() { ReleaseIfHuge(tmp); }
  } release;
  const size_t stride = size_t(width) * 3;
  const uint8_t* base = src + size_t(p.top) * stride;
  const uint8_t* end = src + stride * height;
  const bool needH = p.resizeW != p.rw, needV = p.resizeH != p.rh;
  Coeffs cv = Precompute(p.rh, p.resizeH, p.outTop, p.outH);
  if (!needH) {
    // Columns are copied (PIL skips the pass); rows still go through
    // Vertical unless the height is unchanged too.
    tmp.resize(size_t(p.outW) * p.rh * 3);
    for (int y = 0; y < p.rh; y++) std::memcpy(&tmp[size_t(y) * p.outW * 3], base + y * stride + size_t(p.left + p.outLeft) * 3, size_t(p.outW) * 3);
    if (needV) {
      Vertical(tmp.data(), p.outW, 0, cv, p.outH, out);
    } else {
      for (int j = 0; j < p.outH; j++) std::memcpy(out + size_t(j) * p.outW * 3, &tmp[size_t(p.outTop + j) * p.outW * 3], size_t(p.outW) * 3);
    }
    return;
  }
  Coeffs ch = Precompute(p.rw, p.resizeW, p.outLeft, p.outW);
  if (!needV) {
    Horizontal(base, stride, end, p.left, p.outTop, p.outTop + p.outH, ch, p.outW, out);
    return;
  }
  // Only the source rows the vertical pass reads.
  const int y0 = cv.start[0], y1 = cv.start[p.outH - 1] + cv.taps[p.outH - 1];
  tmp.resize(size_t(p.outW) * (y1 - y0) * 3);
  Horizontal(base, stride, end, p.left, y0, y1, ch, p.outW, tmp.data());
  Vertical(tmp.data(), p.outW, y0, cv, p.outH, out);
}

// resample(rgb, width, height, region, resizeW, resizeH, outLeft, outTop, outW, outH) -> Uint8Array
Napi::Value Resample(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto src = info[0].As<Napi::Uint8Array>();
  const int width = info[1].As<Napi::Number>().Int32Value();
  const int height = info[2].As<Napi::Number>().Int32Value();
  if (width <= 0 || height <= 0 || src.ByteLength() != size_t(width) * height * 3) {
    throw Napi::RangeError::New(env, "resample: pixels do not match width x height x 3");
  }
  Plan p = ReadPlan(info, 3, width, height);
  auto out = Napi::Uint8Array::New(env, size_t(p.outW) * p.outH * 3);
  ResampleInto(src.Data(), width, height, p, out.Data());
  return out;
}

// decodeJpegResample(bytes, region, resizeW, resizeH, outLeft, outTop, outW, outH)
//   -> Uint8Array | null (any libjpeg error or warning: damaged data).
// Decodes into a per-thread buffer and resizes from there, so the
// full-resolution pixels never become a JS object.
Napi::Value DecodeJpegResample(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto bytes = info[0].As<Napi::Uint8Array>();
  thread_local std::vector<uint8_t> rgb;
  struct Release {
    ~Release() { ReleaseIfHuge(rgb); }
  } release;
  Decoder d;
  int width = 0, height = 0;
  if (!DecodeRgb(d, bytes.Data(), bytes.ByteLength(), &rgb, &width, &height)) return env.Null();
  Plan p = ReadPlan(info, 1, width, height);
  auto out = Napi::Uint8Array::New(env, size_t(p.outW) * p.outH * 3);
  ResampleInto(rgb.data(), width, height, p, out.Data());
  return out;
}

// C++ exceptions other than Napi's (std::bad_alloc for a huge image) become
// JS errors instead of terminating the process.
using Fn = Napi::Value (*)(const Napi::CallbackInfo&);
template <Fn F>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("image addon: ") + e.what());
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("jpegInfo", Napi::Function::New(env, Guarded<JpegInfo>));
  exports.Set("decodeJpegResample", Napi::Function::New(env, Guarded<DecodeJpegResample>));
  exports.Set("resample", Napi::Function::New(env, Guarded<Resample>));
  return exports;
}

}  // namespace

NODE_API_MODULE(clipts_image, Init)
