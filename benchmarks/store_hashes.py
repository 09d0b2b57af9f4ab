"""Fingerprints of a results tree: a sha256 of every data variable and coordinate of every
Zarr store (cell stores included) and of every CSV / TeX table under it, as JSON.

A refactor proves itself by equal fingerprints of the quick preset at the old and the new
commit (each run in its own clone):

    python benchmarks/store_hashes.py results/quick > new.json
    python benchmarks/store_hashes.py --compare old.json new.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def fingerprints(root: Path) -> dict[str, str]:
    import numpy as np
    import xarray as xr

    out = {}
    stores = sorted(p for p in root.rglob("*.zarr")
                    if p.is_dir() and not any(q.suffix == ".zarr" for q in p.parents))
    for store in stores:
        ds = xr.open_zarr(store, consolidated=None)
        for name in sorted([*ds.data_vars, *ds.coords]):
            a = np.ascontiguousarray(ds[name].values)
            digest = hashlib.sha256(a.tobytes() + f"{a.dtype}{a.shape}".encode()).hexdigest()
            out[f"{store.relative_to(root)}:{name}"] = digest[:16]
    for table in sorted([*root.rglob("*.csv"), *root.rglob("*.tex")]):
        out[str(table.relative_to(root))] = hashlib.sha256(table.read_bytes()).hexdigest()[:16]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", help="results tree to fingerprint")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"),
                        help="two fingerprint files: exit 1 if any entry differs")
    args = parser.parse_args(argv)
    if args.compare:
        old, new = (json.loads(Path(f).read_text()) for f in args.compare)
        differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        stores = {k.split(":")[0] for k in old if ":" in k}
        print(f"{len(old)} entries ({len(stores)} stores, {len(old) - sum(':' in k for k in old)}"
              f" tables) against {len(new)}: {len(differ)} differ")
        for key in differ[:50]:
            print(f"  differs: {key}")
        return 1 if differ else 0
    json.dump(fingerprints(Path(args.root)), sys.stdout, indent=0, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
