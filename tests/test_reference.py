"""The default model's streams are bit-identical to the code before models became a
choice (issue 9): checksums of fixed cells of every engine, computed from commit 2046c41
(before the model was passed to the engines) and committed here. A change of any number
of these runs fails this test."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import mediocrity as md

# sha256 (first 16 hex digits) of the float64 bytes of risk, m, q of each cell
REFERENCE = {
    "gram_p1": {"m": "0bb15b7443b5a50d", "q": "9c081a429b08e555", "risk": "0b784e308a619477"},
    "gram_p1_stop": {"m": "b4a830954b733550", "q": "0b44774885543acd",
                     "risk": "d28cc373f511239a"},
    "gram_p2": {"m": "63148486638b1694", "q": "3b4435df0b2874ca", "risk": "2b8e91c9dd437f23"},
    "gram_p3_noise": {"m": "f586d5cbe75d9bdd", "q": "9f534461a0fe5eb8",
                      "risk": "b2cdceba4cbe3c4e"},
    "ode_p2": {"m": "dd6312d538d56f09", "q": "45aeb9cd7c395396", "risk": "14d831c96d58273b"},
    "sde_p2": {"m": "57bf6b69839be651", "q": "2bab7934f5c282f4", "risk": "733e0c7c65f4fdef"},
    "sgd_p1": {"m": "64c79b27a1b19464", "q": "76b99075c057e498", "risk": "8c8d48ba494423bb"},
    "sgd_p2": {"m": "3f557570a6be9919", "q": "65c890a9f8005858", "risk": "415a5abb008ff99a"},
    # the save-and-stop rule of the sde and ode (also from 2046c41)
    "sde_p1_stop": {"m": "3896be93bc1296e1", "q": "9016ad4314126ed8",
                    "risk": "98037ce45015efee"},
    "ode_p2_stop": {"m": "ead13a1ac7e701d2", "q": "10dcdab26484bb2e",
                    "risk": "fc239fba4ae4844f"},
}

CELLS = {
    "gram_p1": (dict(d=500, p=1, gamma=0.1, noise=0.01, t_max=2.0), "gram",
                dict(seeds=3, init="random", root_seed=7)),
    "gram_p1_stop": (dict(d=300, p=1, gamma=0.1, t_max=10.0, stop_after=0.2), "gram",
                     dict(seeds=[4, 9], init="random", root_seed=7)),
    "gram_p2": (dict(d=200, p=2, gamma=0.2, t_max=1.0), "gram",
                dict(seeds=2, init="fixed", root_seed=3)),
    "gram_p3_noise": (dict(d=100, p=3, gamma=0.1, noise=0.1, t_max=0.5), "gram",
                      dict(seeds=2, init="annealed", root_seed=5)),
    "sgd_p1": (dict(d=100, p=1, gamma=0.1, noise=0.01, t_max=0.5), "sgd",
               dict(seeds=2, init="random", root_seed=7)),
    "sgd_p2": (dict(d=64, p=2, gamma=0.2, t_max=0.5), "sgd",
               dict(seeds=2, init="fixed", root_seed=3)),
    "sde_p2": (dict(d=1000, p=2, gamma=0.1, noise=0.01, t_max=0.3), "sde",
               dict(seeds=2, init="random", root_seed=7)),
    "ode_p2": (dict(d=1000, p=2, gamma=0.1, noise=0.01, t_max=3.0), "ode",
               dict(seeds=1, init="annealed")),
    "sde_p1_stop": (dict(d=500, p=1, gamma=0.1, t_max=10.0, stop_after=0.1), "sde",
                    dict(seeds=2, init="random", root_seed=7)),
    "ode_p2_stop": (dict(d=1000, p=2, gamma=0.1, t_max=10.0, stop_after=0.3), "ode",
                    dict(seeds=1, init="annealed")),
}


def digest(ds) -> dict:
    out = {}
    for name in ("risk", "m", "q"):
        if name in ds:
            a = np.ascontiguousarray(ds[name].values, dtype=np.float64)
            out[name] = hashlib.sha256(a.tobytes()).hexdigest()[:16]
    return out


@pytest.mark.parametrize("name", sorted(CELLS))
def test_default_model_is_bit_identical_to_the_reference(name):
    kw, engine, sim = CELLS[name]
    ds = md.simulate(md.Problem(**kw), engine=engine, scheduler="sync", **sim)
    assert digest(ds) == REFERENCE[name]
