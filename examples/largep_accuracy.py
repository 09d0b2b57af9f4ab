"""Accuracy of the large-p form (engine "ode_largep") against the full ODE ("ode"):
d = 10^4, annealed start (m_j = 1/sqrt d, Q = I), Delta = 1e-3, t <= 10, for gamma = 0.1
and gamma a fixed fraction of gamma_c. Quoted in docs/ode_sde.md.

    python examples/largep_accuracy.py | tee examples/output/largep_accuracy.txt
"""

import mediocrity as md
from mediocrity.engines.ode import annealed_start

D, NOISE = 10**4, 1e-3


def main() -> None:
    print(f"d = {D}, Delta = {NOISE}, annealed start, t <= 10")
    print(f"{'gamma':>12} {'p':>4} {'t_ex full':>9} {'t_ex large-p':>12} {'rel':>8} "
          f"{'max|dR|':>8} {'R(10) full':>10} {'R(10) large-p':>13}")
    for label, fraction in (("0.1", None), ("gamma_c/10", 0.1), ("gamma_c/4", 0.25),
                            ("gamma_c/2", 0.5)):
        for p in (5, 10, 20, 50, 100):
            gamma = 0.1 if fraction is None else fraction * md.theory.critical_gamma(p, NOISE)
            problem = md.Problem(d=D, p=p, gamma=gamma, noise=NOISE, t_max=10.0)
            full = md.simulate(problem, "ode", init=annealed_start(p, D), save_q=False)
            large = md.simulate(problem, "ode_largep", init=annealed_start(p, D))
            t_full, t_large = (float(md.exit_time(x.risk)) for x in (full, large))
            rel = abs(t_large / t_full - 1)
            print(f"{label:>12} {p:>4} {t_full:9.4f} {t_large:12.4f} {rel:8.1e}"
                  f" {float(abs(full.risk - large.risk).max()):8.2g}"
                  f" {float(full.risk[-1]):10.4f} {float(large.risk[-1]):13.4f}")


if __name__ == "__main__":
    main()
