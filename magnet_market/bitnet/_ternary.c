/* magnet_market/bitnet/_ternary.c -- packed ternary (2-bit) x int8 matmul for BitNet b1.58.
 *
 * y[m, n] = sum_k x[m, k] * w[n, k] with x int8 and w in {-1, 0, 1}, accumulated in int32, so
 * every path (AVX-512 VNNI, AVX2, portable C) gives the same integers. Paths are chosen at run
 * time from CPUID (GCC/Clang target attributes; the file itself needs no -m flags).
 *
 * Packed layout (magnet_market/bitnet/quant.py, pack_ternary): K padded to a multiple of 256;
 * each block of 256 weights is 64 bytes; byte j holds codes c = w + 1 of weights j (bits 7-6),
 * j+64 (5-4), j+128 (3-2), j+192 (1-0). Codes are unsigned {0, 1, 2}, so
 *     sum_k x*w = sum_k x*c - sum_k x,
 * which maps onto the unsigned x signed byte dot products (vpdpbusd, vpmaddubsw). This is the
 * I2_S idea of microsoft/BitNet (bitnet.cpp) with a block of 256 instead of 128.
 *
 * Float code (activation quantization, output scaling) repeats torch's float32 operations in
 * the same order; build with -ffp-contract=off so no FMA changes a rounding.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define TK_X86 1
#include <immintrin.h>
#endif

#define BLOCK 256
#define BLOCK_BYTES 64

enum { PATH_SCALAR = 0, PATH_AVX2 = 1, PATH_AVX512VNNI = 2 };
static const char *PATH_NAMES[] = {"scalar", "avx2", "avx512vnni"};

typedef struct {
    const int8_t *x;    /* (M, Kp) */
    const int32_t *xs;  /* (M) sum of each row of x */
    const uint8_t *w;   /* (N, Kp/4) */
    int32_t *y;         /* (M, N) */
    int64_t M, N, Kp;
} gemm_args;

/* ---------------------------------------------------------------- portable path */

static void rows_scalar(const gemm_args *a, int64_t n0, int64_t n1) {
    const int64_t kq = a->Kp / 4, nb = a->Kp / BLOCK;
    for (int64_t n = n0; n < n1; n++) {
        const uint8_t *wr = a->w + n * kq;
        for (int64_t m = 0; m < a->M; m++) {
            const int8_t *xr = a->x + m * a->Kp;
            int32_t acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *p = wr + b * BLOCK_BYTES;
                const int8_t *xb = xr + b * BLOCK;
                for (int j = 0; j < BLOCK_BYTES; j++) {
                    const int v = p[j];
                    acc += (int32_t)((v >> 6) & 3) * xb[j] + (int32_t)((v >> 4) & 3) * xb[j + 64] +
                           (int32_t)((v >> 2) & 3) * xb[j + 128] + (int32_t)(v & 3) * xb[j + 192];
                }
            }
            a->y[m * a->N + n] = acc - a->xs[m];
        }
    }
}

#ifdef TK_X86
/* ---------------------------------------------------------------- AVX-512 VNNI path
 * A tile of R weight rows x T tokens keeps R*T int32 accumulators in registers; each packed
 * block is unpacked once per tile and reused for T tokens. R, T are compile-time constants at
 * every call site (always_inline), so the loops unroll and the accumulators stay in zmm. */
#define TGT512 __attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) static inline

TGT512 void tile512(const gemm_args *a, int64_t n, int64_t m, const int R, const int T) {
    const int64_t kq = a->Kp / 4, nb = a->Kp / BLOCK;
    const __m512i mask = _mm512_set1_epi8(3);
    __m512i acc[4][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_si512();
    for (int64_t b = 0; b < nb; b++) {
        __m512i p[4];
        for (int r = 0; r < R; r++)
            p[r] = _mm512_loadu_si512((const void *)(a->w + (n + r) * kq + b * BLOCK_BYTES));
        for (int g = 0; g < 4; g++) {
            __m512i u[4];
            for (int r = 0; r < R; r++)
                u[r] = _mm512_and_si512(_mm512_srli_epi16(p[r], 6 - 2 * g), mask);
            for (int t = 0; t < T; t++) {
                const __m512i xv =
                    _mm512_loadu_si512((const void *)(a->x + (m + t) * a->Kp + b * BLOCK + 64 * g));
                for (int r = 0; r < R; r++) acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], u[r], xv);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            a->y[(m + t) * a->N + n + r] = _mm512_reduce_add_epi32(acc[r][t]) - a->xs[m + t];
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void rows_avx512vnni(
    const gemm_args *a, int64_t n0, int64_t n1) {
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        int64_t m = 0;
        for (; m + 4 <= a->M; m += 4) tile512(a, n, m, 4, 4);
        switch (a->M - m) {
            case 3: tile512(a, n, m, 4, 3); break;
            case 2: tile512(a, n, m, 4, 2); break;
            case 1: tile512(a, n, m, 4, 1); break;
            default: break;
        }
    }
    for (; n < n1; n++) {
        int64_t m = 0;
        for (; m + 4 <= a->M; m += 4) tile512(a, n, m, 1, 4);
        for (; m < a->M; m++) tile512(a, n, m, 1, 1);
    }
}

/* ---------------------------------------------------------------- AVX2 path
 * vpmaddubsw (u8 x s8 -> s16 pairs, |pair| <= 2*2*128 = 512) then the four groups of a block
 * are summed in int16 (|sum| <= 2048, no saturation) before one vpmaddwd to int32. */
#define TGT256 __attribute__((target("avx2"), always_inline)) static inline

TGT256 void tile256(const gemm_args *a, int64_t n, int64_t m, const int R, const int T) {
    const int64_t kq = a->Kp / 4, nb = a->Kp / BLOCK;
    const __m256i mask = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc[4][2];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_si256();
    for (int64_t b = 0; b < nb; b++) {
        for (int h = 0; h < 2; h++) {
            __m256i p[4], s[4][2];
            for (int r = 0; r < R; r++) {
                p[r] = _mm256_loadu_si256(
                    (const __m256i *)(a->w + (n + r) * kq + b * BLOCK_BYTES + 32 * h));
                for (int t = 0; t < T; t++) s[r][t] = _mm256_setzero_si256();
            }
            for (int g = 0; g < 4; g++) {
                __m256i u[4];
                for (int r = 0; r < R; r++)
                    u[r] = _mm256_and_si256(_mm256_srli_epi16(p[r], 6 - 2 * g), mask);
                for (int t = 0; t < T; t++) {
                    const __m256i xv = _mm256_loadu_si256(
                        (const __m256i *)(a->x + (m + t) * a->Kp + b * BLOCK + 64 * g + 32 * h));
                    for (int r = 0; r < R; r++)
                        s[r][t] = _mm256_add_epi16(s[r][t], _mm256_maddubs_epi16(u[r], xv));
                }
            }
            for (int r = 0; r < R; r++)
                for (int t = 0; t < T; t++)
                    acc[r][t] = _mm256_add_epi32(acc[r][t], _mm256_madd_epi16(s[r][t], ones));
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            __m128i v = _mm_add_epi32(_mm256_castsi256_si128(acc[r][t]),
                                      _mm256_extracti128_si256(acc[r][t], 1));
            v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
            v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
            a->y[(m + t) * a->N + n + r] = _mm_cvtsi128_si32(v) - a->xs[m + t];
        }
}

__attribute__((target("avx2"))) static void rows_avx2(const gemm_args *a, int64_t n0, int64_t n1) {
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        int64_t m = 0;
        for (; m + 2 <= a->M; m += 2) tile256(a, n, m, 4, 2);
        if (m < a->M) tile256(a, n, m, 4, 1);
    }
    for (; n < n1; n++) {
        int64_t m = 0;
        for (; m + 2 <= a->M; m += 2) tile256(a, n, m, 1, 2);
        if (m < a->M) tile256(a, n, m, 1, 1);
    }
}
#endif /* TK_X86 */

/* ---------------------------------------------------------------- dispatch */

static int path_supported(int path) {
    if (path == PATH_SCALAR) return 1;
#ifdef TK_X86
    __builtin_cpu_init();
    if (path == PATH_AVX2) return __builtin_cpu_supports("avx2");
    if (path == PATH_AVX512VNNI)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
#endif
    return 0;
}

static int best_path(void) {
    for (int p = PATH_AVX512VNNI; p > PATH_SCALAR; p--)
        if (path_supported(p)) return p;
    return PATH_SCALAR;
}

static void run_gemm(const gemm_args *a, int path, int threads) {
    /* Rows are split in multiples of 4 so that every thread runs whole 4-row tiles. Dynamic
     * chunks of 16 tiles: on a busy machine a descheduled thread holds up at most one chunk. */
    const int64_t tiles = (a->N + 3) / 4;
    /* Waking a thread costs microseconds; below ~1M multiply-adds one thread is faster. */
    if ((double)a->M * (double)a->N * (double)a->Kp < (double)(1 << 20)) threads = 1;
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads) if (threads > 1)
#endif
    for (int64_t i = 0; i < tiles; i++) {
        const int64_t n0 = i * 4, n1 = n0 + 4 < a->N ? n0 + 4 : a->N;
#ifdef TK_X86
        if (path == PATH_AVX512VNNI) {
            rows_avx512vnni(a, n0, n1);
            continue;
        }
        if (path == PATH_AVX2) {
            rows_avx2(a, n0, n1);
            continue;
        }
#endif
        rows_scalar(a, n0, n1);
    }
}

static void row_sums(const int8_t *x, int32_t *xs, int64_t M, int64_t Kp) {
    for (int64_t m = 0; m < M; m++) {
        int32_t s = 0;
        for (int64_t k = 0; k < Kp; k++) s += x[m * Kp + k];
        xs[m] = s;
    }
}

/* Per-token absmax int8, as quant.py: s = (1 / max(max|x|, 1e-5)) * 127; q = clamp(rint(x*s)).
 * (torch evaluates 127 / t as reciprocal(t) * 127; dividing directly can differ by 1 ulp.) */
static void quant_rows(const float *x, int8_t *q, float *s, int64_t M, int64_t K, int64_t Kp) {
    for (int64_t m = 0; m < M; m++) {
        const float *xr = x + m * K;
        float amax = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const float v = fabsf(xr[k]);
            amax = v > amax ? v : amax;
        }
        const float sc = (1.0f / (amax > 1e-5f ? amax : 1e-5f)) * 127.0f;
        int8_t *qr = q + m * Kp;
        for (int64_t k = 0; k < K; k++) {
            float v = nearbyintf(xr[k] * sc);
            v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);
            qr[k] = (int8_t)v;
        }
        memset(qr + K, 0, (size_t)(Kp - K));
        s[m] = sc;
    }
}

/* ---------------------------------------------------------------- Python API */

static int parse_path(const char *name, int *path) {
    if (name == NULL || strcmp(name, "auto") == 0) {
        *path = best_path();
        return 0;
    }
    for (int p = 0; p < 3; p++)
        if (strcmp(name, PATH_NAMES[p]) == 0) {
            if (!path_supported(p)) {
                PyErr_Format(PyExc_ValueError, "path %s is not supported by this CPU", name);
                return -1;
            }
            *path = p;
            return 0;
        }
    PyErr_Format(PyExc_ValueError, "unknown path %s; use auto, scalar, avx2 or avx512vnni", name);
    return -1;
}

static int check_len(const Py_buffer *b, Py_ssize_t want, const char *what) {
    if (b->len != want) {
        PyErr_Format(PyExc_ValueError, "%s has %zd bytes, expected %zd", what, b->len, want);
        return -1;
    }
    return 0;
}

static int check_dims(long long M, long long N, long long Kp, int threads) {
    if (M < 0 || N < 0 || Kp < 0 || Kp % BLOCK != 0 || threads < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "need M, N >= 0, Kp a multiple of 256 and threads >= 1");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(gemm_i8_doc,
             "gemm_i8(x, w, y, M, N, Kp, threads=1, path='auto')\n\n"
             "y (int32, M x N) = x (int8, M x Kp) @ unpack(w (uint8, N x Kp/4)).T, exactly.");

static PyObject *py_gemm_i8(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"x", "w", "y", "M", "N", "Kp", "threads", "path", NULL};
    Py_buffer bx, bw, by;
    long long M, N, Kp;
    int threads = 1, path;
    const char *pname = NULL;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*y*w*LLL|iz", kwlist, &bx, &bw, &by, &M, &N, &Kp,
                                     &threads, &pname))
        return NULL;
    PyObject *ret = NULL;
    int32_t *xs = NULL;
    if (check_dims(M, N, Kp, threads) || parse_path(pname, &path) ||
        check_len(&bx, (Py_ssize_t)(M * Kp), "x") || check_len(&bw, (Py_ssize_t)(N * Kp / 4), "w") ||
        check_len(&by, (Py_ssize_t)(M * N * 4), "y"))
        goto done;
    xs = (int32_t *)malloc((size_t)(M > 0 ? M : 1) * sizeof(int32_t));
    if (!xs) {
        PyErr_NoMemory();
        goto done;
    }
    gemm_args a = {(const int8_t *)bx.buf, xs, (const uint8_t *)bw.buf, (int32_t *)by.buf, M, N, Kp};
    Py_BEGIN_ALLOW_THREADS;
    row_sums(a.x, xs, M, Kp);
    run_gemm(&a, path, threads);
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    free(xs);
    PyBuffer_Release(&bx);
    PyBuffer_Release(&bw);
    PyBuffer_Release(&by);
    return ret;
}

PyDoc_STRVAR(quant_doc,
             "quantize_activations(x, q, s, M, K, Kp)\n\n"
             "Per-token absmax int8 of x (float32, M x K) into q (int8, M x Kp, zero padded) and\n"
             "s (float32, M): bit-identical to quant.quantize_activations.");

static PyObject *py_quant(PyObject *self, PyObject *args) {
    Py_buffer bx, bq, bs;
    long long M, K, Kp;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*w*LLL", &bx, &bq, &bs, &M, &K, &Kp)) return NULL;
    PyObject *ret = NULL;
    if (M < 0 || K < 0 || Kp < K) {
        PyErr_SetString(PyExc_ValueError, "need M, K >= 0 and Kp >= K");
        goto done;
    }
    if (check_len(&bx, (Py_ssize_t)(M * K * 4), "x") || check_len(&bq, (Py_ssize_t)(M * Kp), "q") ||
        check_len(&bs, (Py_ssize_t)(M * 4), "s"))
        goto done;
    Py_BEGIN_ALLOW_THREADS;
    quant_rows((const float *)bx.buf, (int8_t *)bq.buf, (float *)bs.buf, M, K, Kp);
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&bx);
    PyBuffer_Release(&bq);
    PyBuffer_Release(&bs);
    return ret;
}

PyDoc_STRVAR(bitlinear_doc,
             "bitlinear(x, w, w_scale, y, M, N, K, threads=1, path='auto')\n\n"
             "Fused inference BitLinear: quantize x (float32, M x K) per token, multiply by the\n"
             "packed ternary w, write y (float32, M x N) = acc / (s_x * w_scale).");

static PyObject *py_bitlinear(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"x", "w", "w_scale", "y", "M", "N", "K", "threads", "path", NULL};
    Py_buffer bx, bw, by;
    long long M, N, K;
    float w_scale;
    int threads = 1, path;
    const char *pname = NULL;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*y*fw*LLL|iz", kwlist, &bx, &bw, &w_scale, &by, &M,
                                     &N, &K, &threads, &pname))
        return NULL;
    PyObject *ret = NULL;
    const long long Kp = (K + BLOCK - 1) / BLOCK * BLOCK;
    void *scratch = NULL;
    if (K < 0 || check_dims(M, N, Kp, threads) || parse_path(pname, &path) ||
        check_len(&bx, (Py_ssize_t)(M * K * 4), "x") || check_len(&bw, (Py_ssize_t)(N * Kp / 4), "w") ||
        check_len(&by, (Py_ssize_t)(M * N * 4), "y"))
        goto done;
    /* scratch: q (M*Kp int8), then s (M float), xs (M int32), acc (M*N int32), 64-aligned. */
    const size_t qb = ((size_t)(M * Kp) + 63) / 64 * 64, sb = ((size_t)M * 4 + 63) / 64 * 64;
    scratch = malloc(qb + 2 * sb + (size_t)(M * N) * 4 + 64);
    if (!scratch) {
        PyErr_NoMemory();
        goto done;
    }
    int8_t *q = (int8_t *)scratch;
    float *s = (float *)((char *)scratch + qb);
    int32_t *xs = (int32_t *)((char *)scratch + qb + sb);
    int32_t *acc = (int32_t *)((char *)scratch + qb + 2 * sb);
    float *y = (float *)by.buf;
    Py_BEGIN_ALLOW_THREADS;
    quant_rows((const float *)bx.buf, q, s, M, K, Kp);
    row_sums(q, xs, M, Kp);
    gemm_args a = {q, xs, (const uint8_t *)bw.buf, acc, M, N, Kp};
    run_gemm(&a, path, threads);
    for (long long m = 0; m < M; m++) {
        const float d = s[m] * w_scale; /* torch: acc.float() / (s_x * s_w) */
        for (long long n = 0; n < N; n++) y[m * N + n] = (float)acc[m * N + n] / d;
    }
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    free(scratch);
    PyBuffer_Release(&bx);
    PyBuffer_Release(&bw);
    PyBuffer_Release(&by);
    return ret;
}

static PyObject *py_paths(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    PyObject *lst = PyList_New(0);
    if (!lst) return NULL;
    for (int p = 0; p < 3; p++)
        if (path_supported(p)) {
            PyObject *s = PyUnicode_FromString(PATH_NAMES[p]);
            if (!s || PyList_Append(lst, s) < 0) {
                Py_XDECREF(s);
                Py_DECREF(lst);
                return NULL;
            }
            Py_DECREF(s);
        }
    return lst;
}

static PyObject *py_best(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyUnicode_FromString(PATH_NAMES[best_path()]);
}

static PyObject *py_openmp(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
#ifdef _OPENMP
    Py_RETURN_TRUE;
#else
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef methods[] = {
    {"gemm_i8", (PyCFunction)(void (*)(void))py_gemm_i8, METH_VARARGS | METH_KEYWORDS, gemm_i8_doc},
    {"quantize_activations", py_quant, METH_VARARGS, quant_doc},
    {"bitlinear", (PyCFunction)(void (*)(void))py_bitlinear, METH_VARARGS | METH_KEYWORDS,
     bitlinear_doc},
    {"available_paths", py_paths, METH_NOARGS, "Kernel paths this CPU supports, slowest first."},
    {"best_path", py_best, METH_NOARGS, "The path 'auto' picks on this CPU."},
    {"has_openmp", py_openmp, METH_NOARGS, "True when built with OpenMP threading."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT,
                                    "_ternary",
                                    "Packed ternary x int8 matmul kernels for BitNet b1.58.",
                                    -1,
                                    methods,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

PyMODINIT_FUNC PyInit__ternary(void) { return PyModule_Create(&module); }
