"""The registered models: one entry each (target σ*, activation σ, σ'). The first is the
default. Numba compiles each function once per kernel that uses it (cache=True)."""

from __future__ import annotations

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


register(Model("phase_retrieval", square, square, twice, "y = z², σ(x) = x²"))
register(Model("abs", absolute, absolute, sign, "y = |z|, σ(x) = |x|"))
register(Model("he3", he3, he3, he3_prime, "y = He₃(z) = z³ − 3z, σ = σ*"))
register(Model("he4", he4, he4, he4_prime, "y = He₄(z) = z⁴ − 6z² + 3, σ = σ*"))
register(Model("relu", relu, relu, step, "y = max(z, 0), σ = σ*"))
