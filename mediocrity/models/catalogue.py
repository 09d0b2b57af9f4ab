"""The registered models: one entry each (target σ*, activation σ, σ', and the pair
kernel κ(ρ) = E[σ(u)σ(v)] of unit-variance Gaussians with correlation ρ, in closed form).
The first is the default. Numba compiles each function once per kernel that uses it
(cache=True).

Pair kernels (u, v standard normals with correlation ρ):
    square:  E[u²v²] = 1 + 2ρ²                               (Isserlis)
    |·|:     E[|u||v|] = (2/π)(√(1 − ρ²) + ρ arcsin ρ)          (arc-cosine kernel, order 1)
    He_k:    E[He_k(u) He_k(v)] = k! ρ^k                       (Mehler)
    relu:    E[u₊v₊] = (√(1 − ρ²) + (π − arccos ρ) ρ)/(2π)      (arc-cosine kernel, order 1)
"""

from __future__ import annotations

import math

import numba

from . import Model, register


def _jit(f):
    return numba.njit(cache=True, nogil=True, inline="always")(f)


@_jit
def square(x):
    return x * x


@_jit
def twice(x):
    return 2.0 * x


@_jit
def absolute(x):
    return abs(x)


@_jit
def sign(x):
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


@_jit
def he3(x):
    return x * x * x - 3.0 * x


@_jit
def he3_prime(x):
    return 3.0 * x * x - 3.0


@_jit
def he4(x):
    x2 = x * x
    return x2 * x2 - 6.0 * x2 + 3.0


@_jit
def he4_prime(x):
    return 4.0 * x * x * x - 12.0 * x


@_jit
def relu(x):
    return x if x > 0 else 0.0


@_jit
def step(x):
    return 1.0 if x > 0 else 0.0


@_jit
def square_pair(rho):
    return 1.0 + 2.0 * rho * rho


@_jit
def abs_pair(rho):
    r = min(max(rho, -1.0), 1.0)
    return (2.0 / math.pi) * (math.sqrt(1.0 - r * r) + r * math.asin(r))


@_jit
def he3_pair(rho):
    return 6.0 * rho * rho * rho


@_jit
def he4_pair(rho):
    r2 = rho * rho
    return 24.0 * r2 * r2


@_jit
def relu_pair(rho):
    r = min(max(rho, -1.0), 1.0)
    return (math.sqrt(1.0 - r * r) + (math.pi - math.acos(r)) * r) / (2.0 * math.pi)


register(Model("phase_retrieval", square, square, twice, "y = z², σ(x) = x²", square_pair,
               degree=2))
register(Model("abs", absolute, absolute, sign, "y = |z|, σ(x) = |x|", abs_pair))
register(Model("he3", he3, he3, he3_prime, "y = He₃(z) = z³ − 3z, σ = σ*", he3_pair,
               degree=3))
register(Model("he4", he4, he4, he4_prime, "y = He₄(z) = z⁴ − 6z² + 3, σ = σ*",
               he4_pair, degree=4))
register(Model("relu", relu, relu, step, "y = max(z, 0), σ = σ*", relu_pair))
