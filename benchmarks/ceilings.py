"""Machine ceilings: the most floating-point work numpy gets out of this machine.

    python benchmarks/ceilings.py [--quick]

Best of 3 numpy matrix multiplies of n x n matrices (n = 2000, 500 with --quick), ``2 n^3 / seconds``,
in float64 and float32 with the default BLAS thread count (all cores), and float64 on one BLAS thread
(the ceiling of one engine worker: shockmodel runs BLAS on one thread per worker thread).
"""

from __future__ import annotations

import sys

import numpy as np

import common


def matmul_gflops(dtype, n: int = 2000, repeats: int = 3, threads: int | None = None) -> float:
    """Best-of-``repeats`` GFLOP/s of an ``n x n`` matrix multiply (2 n^3 flops)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b  # warm-up (thread pool start, page faults)
        best = min(common.seconds(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


def measure(quick: bool = False) -> dict:
    """float64 (all cores), float32 (all cores) and float64 on one BLAS thread, GFLOP/s."""
    n = 500 if quick else 2000
    return {"matmul_n": n, "float64_gflops": matmul_gflops(np.float64, n),
            "float32_gflops": matmul_gflops(np.float32, n),
            "float64_1thread_gflops": matmul_gflops(np.float64, n, threads=1)}


def better(start: dict, end: dict) -> dict:
    """The better of two measurements per key (load from other processes only lowers a ceiling)."""
    return {k: max(start[k], end[k]) if k.endswith("gflops") else start[k] for k in start}


def render(c: dict) -> str:
    return (f"ceilings (numpy matmul {c['matmul_n']}x{c['matmul_n']}, best of 3): float64 {c['float64_gflops']:.1f} "
            f"GFLOP/s (all cores), float32 {c['float32_gflops']:.1f}, float64 on 1 BLAS thread "
            f"{c['float64_1thread_gflops']:.1f}")


def main(argv=None) -> int:
    args = common.parser(__doc__.split("\n")[0]).parse_args(argv)
    res = common.start("ceilings", args.quick)
    res["ceilings"] = measure(args.quick)
    common.finish(res, common.header(res) + "\n" + render(res["ceilings"]), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
