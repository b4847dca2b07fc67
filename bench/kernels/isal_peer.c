// ISA-L (Intel's storage acceleration library, Debian's libisal-dev) timed on the same cases
// as our kernels, so bench:kernels can put it side by side with them in one run. Built by
// bench/kernels/isal_peer.ts with `cc -O2 ... -lisal`; run once per (case, shard size).
//
//   isal_peer CASE SHARD_BYTES MEASURE_MS COEFFICIENTS_HEX
//
// CASE: xor_8+1 | raid6_8+2 | triple_8+3 | reconstruct1_8+2 | reconstruct2_8+2.
// COEFFICIENTS_HEX: the rows ISA-L multiplies by (8 bytes a row), the same rows our kernels
// use (for triple_8+3 P, Q and R; for reconstruct the rebuild rows over the 8 survivors), so
// the outputs are byte-identical to ours and are checked: reconstructions must give back the
// lost data, the others must equal ISA-L's own base (non-SIMD) functions.
// Prints one JSON object per variant: {"impl","bestGBps","dataGBps","error"}; data GB/s count
// the 8 input shards per call, as our rows do. Variants: "isal-sse" (the SSE kernels called
// directly) and "isal" (what ISA-L dispatches to on this CPU: AVX2/AVX-512 where present).
#include <isa-l/erasure_code.h>
#include <isa-l/raid.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define K 8
#define SAMPLES_MAX 200000

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void fill_pseudo_random(unsigned char *bytes, size_t length, uint32_t state) {
  for (size_t i = 0; i < length; i++) {
    state = state * 1103515245u + 12345u;
    bytes[i] = state >> 24;
  }
}

struct peer {
  const char *name;
  int sse; // 1: call the SSE kernels directly
};

static const char *case_name;
static int shard_bytes;
static int rows;
static unsigned char coefficients[3 * K];
static unsigned char tables[3 * K * 32];
static unsigned char *shards[K + 5]; // data, then 3 parity, then 2 rebuild targets
static void *pointers[K + 3];

/** One call of the case with the chosen variant; returns 0 on success. */
static int run_once(int sse) {
  if (strcmp(case_name, "xor_8+1") == 0) {
    for (int i = 0; i < K + 1; i++) pointers[i] = shards[i];
    return sse ? xor_gen_sse(K + 1, shard_bytes, pointers) : xor_gen(K + 1, shard_bytes, pointers);
  }
  if (strcmp(case_name, "raid6_8+2") == 0) {
    for (int i = 0; i < K + 2; i++) pointers[i] = shards[i];
    return sse ? pq_gen_sse(K + 2, shard_bytes, pointers) : pq_gen(K + 2, shard_bytes, pointers);
  }
  unsigned char *sources[K], *targets[3];
  int reconstructing = strncmp(case_name, "reconstruct", 11) == 0;
  if (reconstructing) {
    // survivors: data 2..7 (or 1..7), then P (and Q): the order of our reconstruction plan
    int lost = rows;
    for (int i = 0; i < K - lost; i++) sources[i] = shards[lost + i];
    for (int j = 0; j < lost; j++) sources[K - lost + j] = shards[K + j];
    for (int t = 0; t < rows; t++) targets[t] = shards[K + 3 + t];
  } else {
    for (int i = 0; i < K; i++) sources[i] = shards[i];
    for (int t = 0; t < rows; t++) targets[t] = shards[K + t];
  }
  if (sse) ec_encode_data_sse(shard_bytes, K, rows, tables, sources, targets);
  else ec_encode_data(shard_bytes, K, rows, tables, sources, targets);
  return 0;
}

/** Empty string when the last call's output is right, else what is wrong. */
static const char *check(void) {
  static unsigned char *expected = NULL;
  if (expected == NULL) expected = malloc((size_t)3 * shard_bytes);
  if (strncmp(case_name, "reconstruct", 11) == 0) {
    for (int t = 0; t < rows; t++) {
      if (memcmp(shards[K + 3 + t], shards[t], shard_bytes) != 0) return "wrong result: the rebuilt block differs from the lost data";
    }
    return "";
  }
  int outputs = strcmp(case_name, "xor_8+1") == 0 ? 1 : strcmp(case_name, "raid6_8+2") == 0 ? 2 : 3;
  for (int t = 0; t < outputs; t++) memcpy(expected + (size_t)t * shard_bytes, shards[K + t], shard_bytes);
  for (int t = 0; t < outputs; t++) memset(shards[K + t], 0, shard_bytes);
  for (int i = 0; i < K + outputs; i++) pointers[i] = shards[i];
  if (outputs == 1) xor_gen_base(K + 1, shard_bytes, pointers);
  else if (outputs == 2) pq_gen_base(K + 2, shard_bytes, pointers);
  else {
    unsigned char *targets[3] = {shards[K], shards[K + 1], shards[K + 2]};
    ec_encode_data_base(shard_bytes, K, 3, tables, shards, targets);
  }
  for (int t = 0; t < outputs; t++) {
    if (memcmp(expected + (size_t)t * shard_bytes, shards[K + t], shard_bytes) != 0) return "wrong result: differs from ISA-L's base functions";
  }
  return "";
}

static double samples[SAMPLES_MAX];

static void measure(const struct peer *peer, double measure_seconds) {
  memset(shards[K + 3], 0, shard_bytes);
  memset(shards[K + 4], 0, shard_bytes);
  if (run_once(peer->sse) != 0) {
    printf("{\"impl\":\"%s\",\"error\":\"ISA-L returned an error\"}\n", peer->name);
    return;
  }
  const char *problem = check();
  if (*problem) {
    printf("{\"impl\":\"%s\",\"error\":\"%s\"}\n", peer->name, problem);
    return;
  }
  double warm_end = now_seconds() + 0.1;
  while (now_seconds() < warm_end) run_once(peer->sse);
  int count = 0;
  double end = now_seconds() + measure_seconds;
  while (count < SAMPLES_MAX && (count < 8 || now_seconds() < end)) {
    double start = now_seconds();
    run_once(peer->sse);
    samples[count++] = now_seconds() - start;
  }
  qsort(samples, count, sizeof samples[0], compare_doubles);
  double data_bytes = (double)K * shard_bytes;
  printf("{\"impl\":\"%s\",\"bestGBps\":%.4f,\"dataGBps\":%.4f,\"p50Us\":%.3f,\"iterations\":%d}\n", peer->name,
         data_bytes / samples[0] / 1e9, data_bytes / samples[count / 2] / 1e9, samples[count / 2] * 1e6, count);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: isal_peer CASE SHARD_BYTES MEASURE_MS COEFFICIENTS_HEX\n");
    return 2;
  }
  case_name = argv[1];
  shard_bytes = atoi(argv[2]);
  double measure_seconds = atof(argv[3]) / 1000;
  const char *hex = argv[4];
  rows = (int)(strlen(hex) / (2 * K));
  if (rows > 3 || strlen(hex) != (size_t)rows * 2 * K) {
    fprintf(stderr, "isal_peer: coefficients must be 1..3 rows of %d bytes in hex\n", K);
    return 2;
  }
  for (int i = 0; i < rows * K; i++) {
    unsigned int byte;
    sscanf(hex + 2 * i, "%2x", &byte);
    coefficients[i] = (unsigned char)byte;
  }
  if (rows > 0) ec_init_tables(K, rows, coefficients, tables);
  for (int i = 0; i < K + 5; i++) {
    // 4 KiB aligned plus a stagger, as our arena places the blocks
    if (posix_memalign((void **)&shards[i], 4096, (size_t)shard_bytes + 4096) != 0) return 3;
    shards[i] += (i * 576) % 4096;
    memset(shards[i], 0, shard_bytes);
  }
  for (int i = 0; i < K; i++) fill_pseudo_random(shards[i], shard_bytes, 0x12345678u + i);
  if (strncmp(case_name, "reconstruct", 11) == 0) {
    // P and Q of the data first, then the lost blocks are rebuilt from the survivors
    for (int i = 0; i < K + 2; i++) pointers[i] = shards[i];
    pq_gen_base(K + 2, shard_bytes, pointers);
  }
  static const struct peer peers[] = {{"isal-sse", 1}, {"isal", 0}};
  for (size_t p = 0; p < sizeof peers / sizeof peers[0]; p++) measure(&peers[p], measure_seconds);
  return 0;
}
