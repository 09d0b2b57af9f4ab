"""Exit times at d = 3000 from one fixed initial condition (docs/science.md §6, F1 setting):
the ODE (d -> infinity), SGD (exact finite-d chain) and the SDE, for p = 1 and p = 2.

SGD is run with engine "gram", the exact Markov chain of the Gram matrix: the same law as
the d-dimensional "sgd" engine (docs/science.md §4), at a cost per step independent of d.
Every run stops shortly after its exit (Problem.stop_after).

    python examples/exit_times_d3000.py | tee examples/output/exit_times_d3000.txt
"""

import time

import numpy as np

import mediocrity as md

D, GAMMA, NOISE, THRESHOLD = 3000, 0.1, 1e-4, 0.01
SEEDS = 400


def exit_times(problem: md.Problem, engine: str, seeds: int) -> np.ndarray:
    ds = md.simulate(problem, engine, seeds=seeds, init="fixed")
    return np.atleast_1d(md.exit_time(ds.risk, problem.threshold).values)


def main() -> None:
    print(f"d = {D}, gamma = {GAMMA}, Delta = {NOISE}, T = {THRESHOLD}, init = 'fixed' "
          f"(init_seed 0, root_seed 0), {SEEDS} seeds")
    print(f"{'p':>2} {'ODE':>8} {'SGD (gram) mean +- se':>24} {'SDE mean +- se':>22} "
          f"{'SDE - SGD':>18} {'theory t_ex':>11}")
    for p in (1, 2):
        problem = md.Problem(d=D, p=p, gamma=GAMMA, noise=NOISE, threshold=THRESHOLD,
                             t_max=20.0, stop_after=0.05)
        ode = exit_times(problem, "ode", 1)[0]
        cols = []
        for engine in ("gram", "sde"):
            start = time.perf_counter()
            t = exit_times(problem, engine, SEEDS)
            ok = t[np.isfinite(t)]
            cols.append((ok.mean(), ok.std(ddof=1) / np.sqrt(ok.size), ok.size,
                         time.perf_counter() - start))
        (sgd, sgd_se, n_sgd, _), (sde, sde_se, n_sde, _) = cols
        theory = md.theory.exit_time_quenched(D, p, GAMMA, NOISE, THRESHOLD)
        print(f"{p:>2} {ode:8.4f} {sgd:12.4f} +- {sgd_se:.4f} {sde:11.4f} +- {sde_se:.4f}"
              f" {sde - sgd:+8.4f} +- {np.hypot(sgd_se, sde_se):.4f} {theory:11.4f}")
        if min(n_sgd, n_sde) < SEEDS:
            print(f"   (runs without exit before t_max: gram {SEEDS - n_sgd}, sde {SEEDS - n_sde})")
    print("theory t_ex: (log d + C_p)/(2 lambda_p), quenched C_p (an average over random "
          "starts, not this fixed one)")


if __name__ == "__main__":
    main()
