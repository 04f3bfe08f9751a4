// One core's clock and fp32 FMA peak, measured: the guest sees no cpufreq and its TSC rate (2096 MHz) is not
// the core clock under load, so both are timed on the thread's own CPU time.
//   clock: a chain of dependent register-register 64-bit adds retires one add per cycle (1-cycle latency on Zen), so adds per
//          CPU-second = cycles per second.
//   peak:  12 independent chains of 512-bit fused multiply-adds (vfmadd231ps zmm: 16 lanes x 2 FLOP), enough to
//          keep both FMA pipes busy through the 4-cycle latency; FLOP per CPU-second is the reachable peak.
//   gcc -O3 -mavx512f -o /tmp/rf-peak bench/throughput/peak.c && /tmp/rf-peak     # prints JSON
// (-O3: at -O2 gcc keeps the accumulators in memory and the loop measures store forwarding, not the FMA pipes)
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
  const long adds = 2000000000L;
  unsigned long x = 1;
  double t0 = cpu_seconds();
  for (long i = 0; i < adds / 8; i++) {
    // x += x: register-register, so the core cannot fold the chain as it can a run of immediate adds (Zen 5 retired
    // `add $1` chains at about 5 per cycle, reading 21 GHz; this chain and a 3-cycle imul chain agree at ~4 GHz)
    __asm__ volatile("add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0" : "+r"(x));
  }
  double clock_hz = adds / (cpu_seconds() - t0); // the loop's own increment and branch run in parallel with the chain

  __m512 acc[12];
  for (int k = 0; k < 12; k++) acc[k] = _mm512_set1_ps(1.0f + k * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  const long iterations = 100000000L;
  t0 = cpu_seconds();
  for (long i = 0; i < iterations; i++) {
    for (int k = 0; k < 12; k++) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  double seconds = cpu_seconds() - t0;
  float sink = 0;
  for (int k = 0; k < 12; k++) sink += _mm512_reduce_add_ps(acc[k]);
  double flops = (double)iterations * 12 * 16 * 2 / seconds;
  printf("{\"clockMHz\": %.0f, \"peakGflops\": %.1f, \"flopPerCycle\": %.1f, \"sink\": %g}\n", clock_hz / 1e6, flops / 1e9, flops / clock_hz, sink);
  return 0;
}
