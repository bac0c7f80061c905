/*
 * A minimal N-API binding to the system libopus (RFC 6716), for jingled's
 * native Opus backend (src/media/codecs/opus-native.ts).
 *
 * What it offers beyond opusscript: opus_decode with decode_fec = 1 (in-band
 * FEC, RFC 6716 §2.1.7), PLC with a NULL packet for an exact frame size, and
 * native speed. Everything works on caller-provided typed arrays: nothing is
 * allocated per frame here.
 *
 * Memory safety: every typed array is checked for its element type and its
 * length before libopus reads or writes it (frame_size * channels samples,
 * max_data_bytes = the output's length); CTL requests pass through a
 * whitelist, because opus_*_ctl is variadic and a GET request given an int
 * instead of a pointer would write anywhere. Handles are type-tagged
 * externals: a decoder handle passed to an encoder function is refused.
 * Native state is freed by destroy() and, if that was never called, by the
 * external's finalizer; a destroyed handle throws on use. Their size is
 * reported to V8 (napi_adjust_external_memory), so handles a caller forgot to
 * destroy still make the garbage collector run.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <opus.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* `bytes`: the libopus state's size, reported to V8 as external memory while it lives. */
typedef struct {
  OpusEncoder *enc;
  int channels;
  int64_t bytes;
} EncoderState;

typedef struct {
  OpusDecoder *dec;
  int channels;
  int64_t bytes;
} DecoderState;

static const napi_type_tag ENCODER_TAG = {0x6a696e676c65644fULL, 0x707573456e630001ULL};
static const napi_type_tag DECODER_TAG = {0x6a696e676c65644fULL, 0x7075734465630001ULL};

/* The largest frame libopus handles: 120 ms at 48 kHz. */
#define MAX_FRAME_SAMPLES 5760

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "opus addon: N-API call failed");   \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value throw_opus(napi_env env, int err) {
  char code[16];
  snprintf(code, sizeof code, "%d", err);
  napi_throw_error(env, code, opus_strerror(err));
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < want) {
    napi_throw_type_error(env, NULL, "opus addon: too few arguments");
    return 0;
  }
  return 1;
}

static int get_int(napi_env env, napi_value v, int32_t *out, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  return 1;
}

/* A typed array of the given type: its data pointer and element count. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length, const char *what) {
  bool is_typed = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok || type != want) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  return 1;
}

static void *get_handle(napi_env env, napi_value v, const napi_type_tag *tag, const char *what) {
  bool ok = false;
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok ||
      napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  return p;
}

static napi_value make_int(napi_env env, int32_t n) {
  napi_value v;
  CHECK(napi_create_int32(env, n, &v));
  return v;
}

static napi_value undefined(napi_env env) {
  napi_value v;
  CHECK(napi_get_undefined(env, &v));
  return v;
}

/* ------------------------------------------------------------------ encoder */

static void release_encoder(napi_env env, EncoderState *s) {
  if (s->enc == NULL) return;
  opus_encoder_destroy(s->enc);
  s->enc = NULL;
  int64_t ignored;
  napi_adjust_external_memory(env, -s->bytes, &ignored);
}

static void finalize_encoder(napi_env env, void *data, void *hint) {
  (void)hint;
  EncoderState *s = data;
  release_encoder(env, s);
  free(s);
}

/* encoderCreate(rate, channels, application) -> handle */
static napi_value encoder_create(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t rate, channels, application;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_int(env, argv[0], &rate, "rate must be a number") || !get_int(env, argv[1], &channels, "channels must be a number") ||
      !get_int(env, argv[2], &application, "application must be a number"))
    return NULL;
  int err = OPUS_OK;
  OpusEncoder *enc = opus_encoder_create(rate, channels, application, &err);
  if (err != OPUS_OK || enc == NULL) return throw_opus(env, err != OPUS_OK ? err : OPUS_ALLOC_FAIL);
  EncoderState *s = malloc(sizeof *s);
  if (s == NULL) {
    opus_encoder_destroy(enc);
    return throw_opus(env, OPUS_ALLOC_FAIL);
  }
  s->enc = enc;
  s->channels = channels;
  s->bytes = opus_encoder_get_size(channels);
  napi_value handle;
  if (napi_create_external(env, s, finalize_encoder, NULL, &handle) != napi_ok) {
    opus_encoder_destroy(enc);
    free(s);
    napi_throw_error(env, NULL, "opus addon: cannot create the encoder handle");
    return NULL;
  }
  CHECK(napi_type_tag_object(env, handle, &ENCODER_TAG));
  int64_t ignored;
  CHECK(napi_adjust_external_memory(env, s->bytes, &ignored));
  return handle;
}

static napi_value encoder_destroy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  EncoderState *s = get_handle(env, argv[0], &ENCODER_TAG, "not an Opus encoder handle");
  if (s == NULL) return NULL;
  release_encoder(env, s);
  return undefined(env);
}

static OpusEncoder *live_encoder(napi_env env, napi_value v, int *channels) {
  EncoderState *s = get_handle(env, v, &ENCODER_TAG, "not an Opus encoder handle");
  if (s == NULL) return NULL;
  if (s->enc == NULL) {
    napi_throw_error(env, "ERR_OPUS_DESTROYED", "Opus encoder is destroyed");
    return NULL;
  }
  if (channels) *channels = s->channels;
  return s->enc;
}

/* SET requests whose argument is one opus_int32. */
static int is_encoder_set(int32_t r) {
  switch (r) {
    case OPUS_SET_APPLICATION_REQUEST:
    case OPUS_SET_BITRATE_REQUEST:
    case OPUS_SET_MAX_BANDWIDTH_REQUEST:
    case OPUS_SET_VBR_REQUEST:
    case OPUS_SET_BANDWIDTH_REQUEST:
    case OPUS_SET_COMPLEXITY_REQUEST:
    case OPUS_SET_INBAND_FEC_REQUEST:
    case OPUS_SET_PACKET_LOSS_PERC_REQUEST:
    case OPUS_SET_DTX_REQUEST:
    case OPUS_SET_VBR_CONSTRAINT_REQUEST:
    case OPUS_SET_FORCE_CHANNELS_REQUEST:
    case OPUS_SET_SIGNAL_REQUEST:
    case OPUS_SET_LSB_DEPTH_REQUEST:
    case OPUS_SET_EXPERT_FRAME_DURATION_REQUEST:
    case OPUS_SET_PREDICTION_DISABLED_REQUEST:
      return 1;
    default:
      return 0;
  }
}

/* GET requests whose argument is one opus_int32 *. */
static int is_encoder_get(int32_t r) {
  switch (r) {
    case OPUS_GET_APPLICATION_REQUEST:
    case OPUS_GET_BITRATE_REQUEST:
    case OPUS_GET_MAX_BANDWIDTH_REQUEST:
    case OPUS_GET_VBR_REQUEST:
    case OPUS_GET_BANDWIDTH_REQUEST:
    case OPUS_GET_COMPLEXITY_REQUEST:
    case OPUS_GET_INBAND_FEC_REQUEST:
    case OPUS_GET_PACKET_LOSS_PERC_REQUEST:
    case OPUS_GET_DTX_REQUEST:
    case OPUS_GET_VBR_CONSTRAINT_REQUEST:
    case OPUS_GET_FORCE_CHANNELS_REQUEST:
    case OPUS_GET_SIGNAL_REQUEST:
    case OPUS_GET_LOOKAHEAD_REQUEST:
    case OPUS_GET_SAMPLE_RATE_REQUEST:
    case OPUS_GET_LSB_DEPTH_REQUEST:
    case OPUS_GET_EXPERT_FRAME_DURATION_REQUEST:
    case OPUS_GET_PREDICTION_DISABLED_REQUEST:
      return 1;
    default:
      return 0;
  }
}

/* encoderCtl(handle, request, value): a SET request. */
static napi_value encoder_ctl(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t request, value;
  if (!get_args(env, info, 3, argv)) return NULL;
  OpusEncoder *enc = live_encoder(env, argv[0], NULL);
  if (enc == NULL) return NULL;
  if (!get_int(env, argv[1], &request, "request must be a number") || !get_int(env, argv[2], &value, "value must be a number")) return NULL;
  if (!is_encoder_set(request)) return throw_range(env, "unsupported Opus encoder SET request");
  int err = opus_encoder_ctl(enc, request, (opus_int32)value);
  if (err != OPUS_OK) return throw_opus(env, err);
  return undefined(env);
}

/* encoderGet(handle, request) -> number: a GET request. */
static napi_value encoder_get(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t request;
  if (!get_args(env, info, 2, argv)) return NULL;
  OpusEncoder *enc = live_encoder(env, argv[0], NULL);
  if (enc == NULL) return NULL;
  if (!get_int(env, argv[1], &request, "request must be a number")) return NULL;
  if (!is_encoder_get(request)) return throw_range(env, "unsupported Opus encoder GET request");
  opus_int32 value = 0;
  int err = opus_encoder_ctl(enc, request, &value);
  if (err != OPUS_OK) return throw_opus(env, err);
  return make_int(env, value);
}

/* encode(handle, pcm: Int16Array, frameSize, out: Uint8Array) -> bytes written */
static napi_value encode(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int channels;
  int32_t frame_size;
  void *pcm, *out;
  size_t pcm_len, out_len;
  if (!get_args(env, info, 4, argv)) return NULL;
  OpusEncoder *enc = live_encoder(env, argv[0], &channels);
  if (enc == NULL) return NULL;
  if (!get_typed(env, argv[1], napi_int16_array, &pcm, &pcm_len, "pcm must be an Int16Array") ||
      !get_int(env, argv[2], &frame_size, "frameSize must be a number") ||
      !get_typed(env, argv[3], napi_uint8_array, &out, &out_len, "out must be a Uint8Array or Buffer"))
    return NULL;
  if (frame_size <= 0 || frame_size > MAX_FRAME_SAMPLES) return throw_range(env, "frameSize out of range");
  if (pcm_len < (size_t)frame_size * (size_t)channels) return throw_range(env, "pcm holds fewer than frameSize * channels samples");
  if (out_len == 0) return throw_range(env, "out is empty");
  opus_int32 max_bytes = out_len > INT32_MAX ? INT32_MAX : (opus_int32)out_len;
  opus_int32 n = opus_encode(enc, pcm, frame_size, out, max_bytes);
  if (n < 0) return throw_opus(env, n);
  return make_int(env, n);
}

/* ------------------------------------------------------------------ decoder */

static void release_decoder(napi_env env, DecoderState *s) {
  if (s->dec == NULL) return;
  opus_decoder_destroy(s->dec);
  s->dec = NULL;
  int64_t ignored;
  napi_adjust_external_memory(env, -s->bytes, &ignored);
}

static void finalize_decoder(napi_env env, void *data, void *hint) {
  (void)hint;
  DecoderState *s = data;
  release_decoder(env, s);
  free(s);
}

/* decoderCreate(rate, channels) -> handle */
static napi_value decoder_create(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t rate, channels;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_int(env, argv[0], &rate, "rate must be a number") || !get_int(env, argv[1], &channels, "channels must be a number")) return NULL;
  int err = OPUS_OK;
  OpusDecoder *dec = opus_decoder_create(rate, channels, &err);
  if (err != OPUS_OK || dec == NULL) return throw_opus(env, err != OPUS_OK ? err : OPUS_ALLOC_FAIL);
  DecoderState *s = malloc(sizeof *s);
  if (s == NULL) {
    opus_decoder_destroy(dec);
    return throw_opus(env, OPUS_ALLOC_FAIL);
  }
  s->dec = dec;
  s->channels = channels;
  s->bytes = opus_decoder_get_size(channels);
  napi_value handle;
  if (napi_create_external(env, s, finalize_decoder, NULL, &handle) != napi_ok) {
    opus_decoder_destroy(dec);
    free(s);
    napi_throw_error(env, NULL, "opus addon: cannot create the decoder handle");
    return NULL;
  }
  CHECK(napi_type_tag_object(env, handle, &DECODER_TAG));
  int64_t ignored;
  CHECK(napi_adjust_external_memory(env, s->bytes, &ignored));
  return handle;
}

static napi_value decoder_destroy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  DecoderState *s = get_handle(env, argv[0], &DECODER_TAG, "not an Opus decoder handle");
  if (s == NULL) return NULL;
  release_decoder(env, s);
  return undefined(env);
}

static OpusDecoder *live_decoder(napi_env env, napi_value v, int *channels) {
  DecoderState *s = get_handle(env, v, &DECODER_TAG, "not an Opus decoder handle");
  if (s == NULL) return NULL;
  if (s->dec == NULL) {
    napi_throw_error(env, "ERR_OPUS_DESTROYED", "Opus decoder is destroyed");
    return NULL;
  }
  if (channels) *channels = s->channels;
  return s->dec;
}

static int is_decoder_get(int32_t r) {
  switch (r) {
    case OPUS_GET_SAMPLE_RATE_REQUEST:
    case OPUS_GET_PITCH_REQUEST:
    case OPUS_GET_GAIN_REQUEST:
    case OPUS_GET_LAST_PACKET_DURATION_REQUEST:
    case OPUS_GET_BANDWIDTH_REQUEST:
      return 1;
    default:
      return 0;
  }
}

/* decoderGet(handle, request) -> number */
static napi_value decoder_get(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t request;
  if (!get_args(env, info, 2, argv)) return NULL;
  OpusDecoder *dec = live_decoder(env, argv[0], NULL);
  if (dec == NULL) return NULL;
  if (!get_int(env, argv[1], &request, "request must be a number")) return NULL;
  if (!is_decoder_get(request)) return throw_range(env, "unsupported Opus decoder GET request");
  opus_int32 value = 0;
  int err = opus_decoder_ctl(dec, request, &value);
  if (err != OPUS_OK) return throw_opus(env, err);
  return make_int(env, value);
}

/*
 * decode(handle, packet: Uint8Array | null, out: Int16Array, frameSize, fec) -> samples per channel
 * packet null: concealment (PLC) of frameSize samples. fec true: frameSize
 * samples of the frame before `packet`, from its in-band FEC (LBRR) data.
 */
static napi_value decode(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int channels;
  int32_t frame_size;
  bool fec = false;
  void *data = NULL, *out;
  size_t data_len = 0, out_len;
  napi_valuetype t;
  if (!get_args(env, info, 5, argv)) return NULL;
  OpusDecoder *dec = live_decoder(env, argv[0], &channels);
  if (dec == NULL) return NULL;
  CHECK(napi_typeof(env, argv[1], &t));
  if (t != napi_null && t != napi_undefined && !get_typed(env, argv[1], napi_uint8_array, &data, &data_len, "packet must be a Uint8Array, Buffer or null"))
    return NULL;
  if (!get_typed(env, argv[2], napi_int16_array, &out, &out_len, "out must be an Int16Array") ||
      !get_int(env, argv[3], &frame_size, "frameSize must be a number"))
    return NULL;
  if (napi_get_value_bool(env, argv[4], &fec) != napi_ok) return throw_type(env, "fec must be a boolean");
  if (frame_size <= 0 || frame_size > MAX_FRAME_SAMPLES) return throw_range(env, "frameSize out of range");
  if (out_len < (size_t)frame_size * (size_t)channels) return throw_range(env, "out holds fewer than frameSize * channels samples");
  if (data_len > INT32_MAX) return throw_range(env, "packet too large");
  /* An empty packet is a lost one (libopus: data == NULL or len == 0). */
  const unsigned char *packet = data_len > 0 ? data : NULL;
  int n = opus_decode(dec, packet, (opus_int32)data_len, out, frame_size, fec ? 1 : 0);
  if (n < 0) return throw_opus(env, n);
  return make_int(env, n);
}

/* ------------------------------------------------------------------ packets */

/*
 * Does the packet's first frame carry SILK LBRR (in-band FEC) data? libopus
 * 1.3 has no opus_packet_has_lbrr, so read the flags the way the SILK decoder
 * does: the first range-coded symbols of a SILK or Hybrid frame are, per
 * channel, one VAD flag per 20 ms frame and then the LBRR flag, each a binary
 * symbol of probability 1/2 (RFC 6716 §4.2.3, §4.1 for the range decoder).
 */
typedef struct {
  const unsigned char *buf;
  opus_int32 storage, offs;
  uint32_t rng, val;
  int rem;
} RangeDecoder;

static int rd_byte(RangeDecoder *d) { return d->offs < d->storage ? d->buf[d->offs++] : 0; }

static void rd_normalize(RangeDecoder *d) {
  while (d->rng <= (1u << 23)) {
    int sym = d->rem;
    d->rng <<= 8;
    d->rem = rd_byte(d);
    sym = (sym << 8 | d->rem) >> 1;
    d->val = ((d->val << 8) + (255 & ~(uint32_t)sym)) & 0x7fffffffu;
  }
}

static void rd_init(RangeDecoder *d, const unsigned char *buf, opus_int32 len) {
  d->buf = buf;
  d->storage = len;
  d->offs = 0;
  d->rng = 128;
  d->rem = rd_byte(d);
  d->val = d->rng - 1 - (uint32_t)(d->rem >> 1);
  rd_normalize(d);
}

/* ec_dec_bit_logp(dec, 1): one equiprobable binary symbol (RFC 6716 §4.1.3.2). */
static int rd_bit(RangeDecoder *d) {
  uint32_t s = d->rng >> 1;
  int bit = d->val < s;
  if (!bit) d->val -= s;
  d->rng = bit ? s : d->rng - s;
  rd_normalize(d);
  return bit;
}

static int packet_has_lbrr(const unsigned char *data, opus_int32 len) {
  const unsigned char *frames[48];
  opus_int16 sizes[48];
  unsigned char toc;
  int n = opus_packet_parse(data, len, &toc, frames, sizes, NULL);
  if (n < 0) return n;
  if (n == 0 || sizes[0] == 0) return 0;
  int config = toc >> 3;
  if (config >= 16) return 0; /* CELT-only: no SILK layer */
  /* SILK-only configs 0-11 (10/20/40/60 ms), Hybrid 12-15 (10/20 ms): 20 ms SILK frames per Opus frame. */
  int frames_per_packet = 1;
  if (config < 12) frames_per_packet = (config & 3) == 2 ? 2 : (config & 3) == 3 ? 3 : 1;
  int channels = (toc & 0x04) ? 2 : 1;
  RangeDecoder d;
  rd_init(&d, frames[0], sizes[0]);
  for (int ch = 0; ch < channels; ch++) {
    for (int i = 0; i < frames_per_packet; i++) (void)rd_bit(&d); /* VAD flag */
    if (rd_bit(&d)) return 1;                                      /* LBRR flag */
  }
  return 0;
}

/* packetInfo(packet: Uint8Array, rate) -> [samples per channel, frames, has LBRR (0/1)] */
static napi_value packet_info(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  void *data;
  size_t len;
  int32_t rate;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_typed(env, argv[0], napi_uint8_array, &data, &len, "packet must be a Uint8Array or Buffer") ||
      !get_int(env, argv[1], &rate, "rate must be a number"))
    return NULL;
  if (len == 0) return throw_opus(env, OPUS_INVALID_PACKET);
  if (len > INT32_MAX) return throw_range(env, "packet too large");
  int samples = opus_packet_get_nb_samples(data, (opus_int32)len, rate);
  if (samples < 0) return throw_opus(env, samples);
  int frames = opus_packet_get_nb_frames(data, (opus_int32)len);
  if (frames < 0) return throw_opus(env, frames);
  int lbrr = packet_has_lbrr(data, (opus_int32)len);
  if (lbrr < 0) return throw_opus(env, lbrr);
  napi_value arr;
  CHECK(napi_create_array_with_length(env, 3, &arr));
  CHECK(napi_set_element(env, arr, 0, make_int(env, samples)));
  CHECK(napi_set_element(env, arr, 1, make_int(env, frames)));
  CHECK(napi_set_element(env, arr, 2, make_int(env, lbrr)));
  return arr;
}

static napi_value version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  CHECK(napi_create_string_utf8(env, opus_get_version_string(), NAPI_AUTO_LENGTH, &v));
  return v;
}

/* ------------------------------------------------------------------ module */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"encoderCreate", NULL, encoder_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"encoderDestroy", NULL, encoder_destroy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"encoderCtl", NULL, encoder_ctl, NULL, NULL, NULL, napi_enumerable, NULL},
      {"encoderGet", NULL, encoder_get, NULL, NULL, NULL, napi_enumerable, NULL},
      {"encode", NULL, encode, NULL, NULL, NULL, napi_enumerable, NULL},
      {"decoderCreate", NULL, decoder_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"decoderDestroy", NULL, decoder_destroy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"decoderGet", NULL, decoder_get, NULL, NULL, NULL, napi_enumerable, NULL},
      {"decode", NULL, decode, NULL, NULL, NULL, napi_enumerable, NULL},
      {"packetInfo", NULL, packet_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"version", NULL, version, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

#ifndef NODE_GYP_MODULE_NAME
#define NODE_GYP_MODULE_NAME jingled_opus
#endif
NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
