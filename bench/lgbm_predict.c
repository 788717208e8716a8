/* LightGBM's prediction speed through its C API, on files the gbdt_speed example wrote
 * (WHET_LGBM_DIR): model.txt (whet's trees in LightGBM's format), test_x.f32 (rows × cols,
 * row-major little-endian float32) and whet_raw.f64 (whet's raw scores for the same rows).
 *
 *   cc -O2 -o lgbm_predict bench/lgbm_predict.c -ldl
 *   lgbm_predict LIB_LIGHTGBM_SO DIR COLS [REPS]
 *
 * Prints one JSON line: batch seconds with 1 and 2 threads (LGBM_BoosterPredictForMat,
 * probabilities, median of REPS), single-row µs (LGBM_BoosterPredictForMatSingleRowFast, raw
 * score, one thread, median of REPS passes over the first 20,000 rows), and the largest
 * |LightGBM raw − whet raw| over all rows. C rather than Python's ctypes, whose per-call cost
 * (about a microsecond) is as large as what is measured. The library is opened with dlopen so
 * no LightGBM headers are needed; the prototypes below are those of LightGBM 4's c_api.h. */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void *Handle;
typedef int (*create_fn)(const char *, int *, Handle *);
typedef int (*mat_fn)(Handle, const void *, int, int32_t, int32_t, int, int, int, int,
                      const char *, int64_t *, double *);
typedef int (*fast_init_fn)(Handle, int, int, int, int, int32_t, const char *, Handle *);
typedef int (*fast_fn)(Handle, const void *, int64_t *, double *);
typedef const char *(*err_fn)(void);

enum { FLOAT32 = 0, PREDICT_NORMAL = 0, PREDICT_RAW = 1, PROBE_ROWS = 20000 };

static err_fn last_error;

static void check(int rc, const char *what) {
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", what, last_error ? last_error() : "failed");
    exit(1);
  }
}

static void *sym(void *lib, const char *name) {
  void *f = dlsym(lib, name);
  if (!f) {
    fprintf(stderr, "%s: %s\n", name, dlerror());
    exit(1);
  }
  return f;
}

static void *read_file(const char *dir, const char *name, long *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  *len = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *buf = malloc(*len > 0 ? *len : 1);
  if (!buf || fread(buf, 1, *len, f) != (size_t)*len) {
    fprintf(stderr, "%s: short read\n", path);
    exit(1);
  }
  fclose(f);
  return buf;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, n, sizeof *v, cmp);
  return v[n / 2];
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: lgbm_predict LIB_LIGHTGBM_SO DIR COLS [REPS]\n");
    return 2;
  }
  const char *dir = argv[2];
  int cols = atoi(argv[3]);
  int reps = argc > 4 ? atoi(argv[4]) : 5;
  if (cols <= 0 || reps <= 0 || reps > 100) {
    fprintf(stderr, "COLS and REPS (1..100) must be positive\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  last_error = (err_fn)sym(lib, "LGBM_GetLastError");
  create_fn create = (create_fn)sym(lib, "LGBM_BoosterCreateFromModelfile");
  mat_fn for_mat = (mat_fn)sym(lib, "LGBM_BoosterPredictForMat");
  fast_init_fn fast_init = (fast_init_fn)sym(lib, "LGBM_BoosterPredictForMatSingleRowFastInit");
  fast_fn fast = (fast_fn)sym(lib, "LGBM_BoosterPredictForMatSingleRowFast");

  char model[4096];
  snprintf(model, sizeof model, "%s/model.txt", dir);
  Handle booster;
  int iterations;
  check(create(model, &iterations, &booster), model);
  long xlen, wlen;
  float *x = read_file(dir, "test_x.f32", &xlen);
  double *whet = read_file(dir, "whet_raw.f64", &wlen);
  int32_t rows = (int32_t)(xlen / (4L * cols));
  if ((long)rows * 4L * cols != xlen || wlen != 8L * rows) {
    fprintf(stderr, "test_x.f32 and whet_raw.f64 do not hold the same %d-column rows\n", cols);
    return 1;
  }
  double *out = malloc(sizeof(double) * rows);
  int64_t len;

  check(for_mat(booster, x, FLOAT32, rows, cols, 1, PREDICT_RAW, 0, -1, "num_threads=1", &len, out),
        "raw scores");
  double max_diff = 0;
  for (int32_t r = 0; r < rows; r++) max_diff = fmax(max_diff, fabs(out[r] - whet[r]));

  double batch[2], runs[100];
  for (int threads = 1; threads <= 2; threads++) {
    char param[64];
    snprintf(param, sizeof param, "num_threads=%d", threads);
    for (int i = 0; i < reps; i++) {
      double t = now();
      check(for_mat(booster, x, FLOAT32, rows, cols, 1, PREDICT_NORMAL, 0, -1, param, &len, out),
            "batch");
      runs[i] = now() - t;
    }
    batch[threads - 1] = median(runs, reps);
  }

  Handle cfg;
  check(fast_init(booster, PREDICT_RAW, 0, -1, FLOAT32, cols, "num_threads=1", &cfg), "fast init");
  int probe = rows < PROBE_ROWS ? rows : PROBE_ROWS;
  double checksum = 0, one;
  for (int i = 0; i < reps; i++) {
    double t = now();
    for (int r = 0; r < probe; r++) {
      check(fast(cfg, x + (long)r * cols, &len, &one), "single row");
      checksum += one;
    }
    runs[i] = (now() - t) * 1e6 / probe;
  }
  printf("{\"batch_1t_seconds\": %.5f, \"batch_2t_seconds\": %.5f, \"single_row_us\": %.3f, "
         "\"rows\": %d, \"trees\": %d, \"max_abs_raw_diff_vs_whet\": %.3e, \"checksum\": %.3f}\n",
         batch[0], batch[1], median(runs, reps), rows, iterations, max_diff, checksum);
  return 0;
}
