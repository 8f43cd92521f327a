// affectlab's JPEG addon: a face crop of a JPEG decoded with libjpeg(-turbo)'s DCT scaling (1/1,
// 1/2, 1/4 or 1/8: the scaled IDCT), only the rows and iMCU columns the crop's filter reads, then
// resized to the output with an antialiased triangle (bilinear) filter from a sub-pixel box, as
// PIL's resize(box=...) with BILINEAR. Runs on libuv's thread pool (napi async work), so the
// in-process loader decodes as many images at once as that pool has threads.
//
//   decode(encoded: Buffer, scale: 1|2|4|8, box: [x, y, w, h] in scaled pixels (floats),
//          width, height) -> Promise<Buffer>   (uint8 RGB, height x width x 3)
//
// Rejects with an Error whose `code` is 'EUNSUPPORTED' for JPEGs it leaves to sharp (CMYK/YCCK,
// an embedded ICC profile) and 'ECORRUPT' for data libjpeg cannot decode (its message, as
// libjpeg words it). Built by scripts/jpeg-addon.mjs against the system libjpeg-turbo.
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnError(j_common_ptr info) {
  auto* manager = reinterpret_cast<ErrorManager*>(info->err);
  (*info->err->format_message)(info, manager->message);
  longjmp(manager->jump, 1);
}

// Warnings are ignored (as sharp's failOn: 'error' does for "extraneous bytes" and the like),
// except data that ends early, which libvips counts as a truncated image and fails.
void OnMessage(j_common_ptr info, int level) {
  if (level >= 0) return;
  if (info->err->msg_code == JWRN_JPEG_EOF) OnError(info);
  info->err->num_warnings++;
}

// One output pixel's filter window along an axis: the first source pixel and its weights.
struct Window {
  int first;
  int count;
  int offset;  // into the weight table
};

constexpr int kPrecision = 22;  // fixed-point bits of a weight (255 * 2^22 fits an int32)

// The triangle filter's windows for `out` pixels from the box [start, start + length) of an axis
// `size` pixels long: support 1 widened by the reduction factor, clamped to the axis, the
// weights normalised to 1 (PIL's BILINEAR resample with a box).
void Windows(double start, double length, int out, int size, std::vector<Window>* windows,
             std::vector<int32_t>* weights) {
  const double scale = length / out;
  const double filterScale = std::max(scale, 1.0);
  const double support = filterScale;
  std::vector<double> w;
  for (int i = 0; i < out; i++) {
    const double center = start + (i + 0.5) * scale;
    int lo = static_cast<int>(center - support + 0.5);
    int hi = static_cast<int>(center + support + 0.5);
    lo = std::max(lo, 0);
    hi = std::min(hi, size);
    if (hi <= lo) {  // a box at the very edge: the nearest pixel
      lo = std::min(std::max(static_cast<int>(center), 0), size - 1);
      hi = lo + 1;
    }
    w.assign(hi - lo, 0.0);
    double total = 0;
    for (int j = lo; j < hi; j++) {
      const double t = std::fabs((j + 0.5 - center) / filterScale);
      w[j - lo] = t < 1 ? 1 - t : 0;
      total += w[j - lo];
    }
    Window window{lo, hi - lo, static_cast<int>(weights->size())};
    for (double v : w)
      weights->push_back(total > 0 ? static_cast<int32_t>(std::lround(v / total * (1 << kPrecision)))
                                   : (1 << kPrecision) / (hi - lo));
    windows->push_back(window);
  }
}

inline uint8_t Clamp8(int32_t v) {
  v >>= kPrecision;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

struct Job {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref input = nullptr;
  const uint8_t* data = nullptr;
  size_t length = 0;
  int scale = 1;
  double box[4] = {0, 0, 0, 0};
  int width = 0;
  int height = 0;
  std::vector<uint8_t> output;
  // the decode's buffers, here and not on Decode's stack: libjpeg's errors longjmp out of it
  std::vector<uint8_t> rows;
  std::vector<Window> xw, yw;
  std::vector<int32_t> xk, yk;
  std::string error;
  const char* code = nullptr;
};

// The rows [first, last) and columns of the scaled image that the windows read.
void Span(const std::vector<Window>& windows, int* first, int* last) {
  *first = windows.front().first;
  *last = 0;
  for (const Window& w : windows) {
    *first = std::min(*first, w.first);
    *last = std::max(*last, w.first + w.count);
  }
}

void Resize(const std::vector<uint8_t>& rows, int rowFirst, int stride, int columnFirst, Job* job,
            const std::vector<Window>& xw, const std::vector<int32_t>& xk,
            const std::vector<Window>& yw, const std::vector<int32_t>& yk, int rowCount) {
  const int width = job->width;
  // horizontal pass over the rows read: rowCount x width x 3
  std::vector<uint8_t> mid(static_cast<size_t>(rowCount) * width * 3);
  for (int r = 0; r < rowCount; r++) {
    const uint8_t* src = rows.data() + static_cast<size_t>(r) * stride;
    uint8_t* dst = mid.data() + static_cast<size_t>(r) * width * 3;
    for (int i = 0; i < width; i++) {
      const Window& w = xw[i];
      const int32_t* k = xk.data() + w.offset;
      const uint8_t* p = src + (w.first - columnFirst) * 3;
      int32_t s0 = 1 << (kPrecision - 1), s1 = s0, s2 = s0;
      for (int j = 0; j < w.count; j++, p += 3) {
        s0 += p[0] * k[j];
        s1 += p[1] * k[j];
        s2 += p[2] * k[j];
      }
      dst[3 * i] = Clamp8(s0);
      dst[3 * i + 1] = Clamp8(s1);
      dst[3 * i + 2] = Clamp8(s2);
    }
  }
  // vertical pass
  const size_t line = static_cast<size_t>(width) * 3;
  job->output.assign(static_cast<size_t>(job->height) * line, 0);
  std::vector<int32_t> sums(line);
  for (int o = 0; o < job->height; o++) {
    const Window& w = yw[o];
    const int32_t* k = yk.data() + w.offset;
    std::fill(sums.begin(), sums.end(), 1 << (kPrecision - 1));
    for (int j = 0; j < w.count; j++) {
      const uint8_t* p = mid.data() + static_cast<size_t>(w.first + j - rowFirst) * line;
      const int32_t weight = k[j];
      for (size_t c = 0; c < line; c++) sums[c] += p[c] * weight;
    }
    uint8_t* dst = job->output.data() + static_cast<size_t>(o) * line;
    for (size_t c = 0; c < line; c++) dst[c] = Clamp8(sums[c]);
  }
}

bool HasIccProfile(j_decompress_ptr info) {
  JOCTET* icc = nullptr;
  unsigned int size = 0;
  if (!jpeg_read_icc_profile(info, &icc, &size)) return false;
  free(icc);
  return size > 0;
}

void Decode(Job* job) {
  jpeg_decompress_struct info;
  ErrorManager manager;
  info.err = jpeg_std_error(&manager.pub);
  manager.pub.error_exit = OnError;
  manager.pub.emit_message = OnMessage;
  std::vector<uint8_t>& rows = job->rows;
  std::vector<Window>&xw = job->xw, &yw = job->yw;
  std::vector<int32_t>&xk = job->xk, &yk = job->yk;
  if (setjmp(manager.jump)) {
    jpeg_destroy_decompress(&info);
    job->error = manager.message;
    job->code = "ECORRUPT";
    return;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, job->data, static_cast<unsigned long>(job->length));
  jpeg_save_markers(&info, JPEG_APP0 + 2, 0xFFFF);
  jpeg_read_header(&info, TRUE);
  if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK ||
      HasIccProfile(&info)) {
    jpeg_destroy_decompress(&info);
    job->error = "CMYK or ICC-tagged JPEG";
    job->code = "EUNSUPPORTED";
    return;
  }
  info.out_color_space = JCS_RGB;
  info.dct_method = JDCT_ISLOW;
  info.scale_num = 1;
  info.scale_denom = job->scale;
  jpeg_start_decompress(&info);
  const int W = static_cast<int>(info.output_width);
  const int H = static_cast<int>(info.output_height);
  Windows(job->box[0], job->box[2], job->width, W, &xw, &xk);
  Windows(job->box[1], job->box[3], job->height, H, &yw, &yk);
  int colFirst, colLast, rowFirst, rowLast;
  Span(xw, &colFirst, &colLast);
  Span(yw, &rowFirst, &rowLast);
  JDIMENSION xoffset = colFirst, cropWidth = colLast - colFirst;
  if (cropWidth < static_cast<JDIMENSION>(W)) jpeg_crop_scanline(&info, &xoffset, &cropWidth);
  else xoffset = 0, cropWidth = W;
  const int stride = static_cast<int>(info.output_width) * 3;  // the cropped width
  if (rowFirst > 0) jpeg_skip_scanlines(&info, rowFirst);
  const int rowCount = rowLast - rowFirst;
  rows.resize(static_cast<size_t>(rowCount) * stride);
  for (int r = 0; r < rowCount;) {
    JSAMPROW row = rows.data() + static_cast<size_t>(r) * stride;
    r += static_cast<int>(jpeg_read_scanlines(&info, &row, 1));
  }
  jpeg_abort_decompress(&info);  // the rows below the crop are never decoded
  jpeg_destroy_decompress(&info);
  Resize(rows, rowFirst, stride, static_cast<int>(xoffset), job, xw, xk, yw, yk, rowCount);
}

void Execute(napi_env, void* data) { Decode(static_cast<Job*>(data)); }

void Complete(napi_env env, napi_status, void* data) {
  auto* job = static_cast<Job*>(data);
  if (job->code) {
    napi_value message, code, error;
    napi_create_string_utf8(env, job->error.c_str(), NAPI_AUTO_LENGTH, &message);
    napi_create_string_utf8(env, job->code, NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, message, &error);
    napi_reject_deferred(env, job->deferred, error);
  } else {
    napi_value buffer;
    void* bytes = nullptr;
    napi_create_buffer_copy(env, job->output.size(), job->output.data(), &bytes, &buffer);
    napi_resolve_deferred(env, job->deferred, buffer);
  }
  napi_delete_reference(env, job->input);
  napi_delete_async_work(env, job->work);
  delete job;
}

napi_value Throw(napi_env env, const char* message) {
  napi_throw_type_error(env, nullptr, message);
  return nullptr;
}

napi_value DecodeScaled(napi_env env, napi_callback_info callback) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, callback, &argc, argv, nullptr, nullptr);
  if (argc != 5) return Throw(env, "decode(encoded, scale, box, width, height)");
  bool isBuffer = false;
  napi_is_buffer(env, argv[0], &isBuffer);
  if (!isBuffer) return Throw(env, "encoded must be a Buffer");
  auto* job = new Job();
  void* data = nullptr;
  napi_get_buffer_info(env, argv[0], &data, &job->length);
  job->data = static_cast<const uint8_t*>(data);
  napi_get_value_int32(env, argv[1], &job->scale);
  for (uint32_t i = 0; i < 4; i++) {
    napi_value v;
    napi_get_element(env, argv[2], i, &v);
    napi_get_value_double(env, v, &job->box[i]);
  }
  napi_get_value_int32(env, argv[3], &job->width);
  napi_get_value_int32(env, argv[4], &job->height);
  const bool scaleOk = job->scale == 1 || job->scale == 2 || job->scale == 4 || job->scale == 8;
  const bool boxOk = std::isfinite(job->box[0]) && std::isfinite(job->box[1]) &&
                     job->box[2] > 0 && job->box[3] > 0 && std::isfinite(job->box[2]) &&
                     std::isfinite(job->box[3]);
  if (!scaleOk || !boxOk || job->width < 1 || job->height < 1 || job->width > 65535 ||
      job->height > 65535) {
    delete job;
    return Throw(env, "scale must be 1, 2, 4 or 8; box finite with w, h > 0; width, height >= 1");
  }
  napi_create_reference(env, argv[0], 1, &job->input);
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "affectlab.jpeg.decode", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, Execute, Complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

napi_value Version(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, JPEG_LIB_VERSION, &v);
  return v;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "decode", NAPI_AUTO_LENGTH, DecodeScaled, nullptr, &fn);
  napi_set_named_property(env, exports, "decode", fn);
  napi_create_function(env, "jpegLibVersion", NAPI_AUTO_LENGTH, Version, nullptr, &fn);
  napi_set_named_property(env, exports, "jpegLibVersion", fn);
  return exports;
}
