"""End-to-end study throughput: one process vs a 1-worker and a 2-worker Dask LocalCluster, measured in one run.

The same small study (default attacks and every detector of ``helpers.study.DEFAULTS``) runs three
times on the same images, each time with an empty attack cache of its own (cold: the attacks are
computed, as in a real first run): in this process (``client=IN_PROCESS``, model loaded once), on a
``LocalCluster`` with 1 worker process and with 2 (one thread each; TensorFlow inside a worker uses its
own thread pool). Times include loading the model (once per process) and, for the clusters, starting
them. Then a projection of the wall time for 50,000 images on N workers like the 1-worker one, from
the measured per-image cost and start-up time (no network or storage limits modelled).

    python benchmarks/bench_study.py [--n 8] [--batch 4] [--attacks fgsm cw_l2 pgd]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

# isort: off
import helpers  # noqa: F401  (before TensorFlow: its quiet, deterministic defaults)

# isort: on
from distributed import Client, LocalCluster

from helpers.study import DEFAULTS, IN_PROCESS, check_config, compare_runs, run_study

PROJECTED_IMAGES = 50_000
WORKERS = (1, 2, 4, 8, 16, 32, 64)


def timed_run(config: dict, n_shards: int, root: Path, workers: int | None) -> tuple[float, float, object]:
    """(seconds including start-up, start-up seconds, result) of one cold-cache run; ``workers=None``: in process."""
    config = {**config, "cache_dir": str(root / "cache")}
    start = time.perf_counter()
    if workers is None:
        result = run_study(config, n_shards, root / "out", client=IN_PROCESS, progress=False)
        return time.perf_counter() - start, 0.0, result
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        started = time.perf_counter() - start
        result = run_study(config, n_shards, root / "out", client=client, progress=False)
    return time.perf_counter() - start, started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--attacks", nargs="+", default=DEFAULTS["attacks"])
    args = parser.parse_args()
    config = check_config({"n_images": args.n, "batch_size": args.batch, "attacks": args.attacks})
    n_shards = -(-args.n // args.batch)  # one shard per block
    print(f"{config['model']}, {args.n} sample images, batch {args.batch}, {n_shards} shards, attacks "
          f"{', '.join(args.attacks)}, thetas {config['thetas']}, noises {', '.join(config['noises'])}, joint "
          f"Feature Squeezing, baseline; cold attack cache; wall-clock, this machine, one run")
    rows = {}
    print(f"{'':>24} {'s total':>8} {'start-up':>9} {'images/s':>9} {'vs one process':>15}  same table", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for label, workers in (("one process", None), ("LocalCluster, 1 worker", 1), ("LocalCluster, 2 workers", 2)):
            rows[label] = seconds, startup, result = timed_run(config, n_shards, Path(tmp) / label.replace(" ", "_"),
                                                               workers)
            same = compare_runs(rows["one process"][2].scores, result.scores)
            print(f"{label:>24} {seconds:8.1f} {startup:9.1f} {args.n / seconds:9.3f} "
                  f"{seconds / rows['one process'][0]:14.2f}x  {same['identical']} "
                  f"(max score diff {same['max_score_difference']:.1g})", flush=True)
    seconds, startup, _ = rows["LocalCluster, 1 worker"]
    per_image = (seconds - startup) / args.n
    print(f"\nProjection for {PROJECTED_IMAGES:,} images from the 1-worker run ({per_image:.2f} s per image, "
          f"{startup:.0f} s start-up), N workers like it, shards spread evenly:")
    print(f"{'workers':>8} {'hours':>8}")
    for n in WORKERS:
        print(f"{n:>8} {(startup + PROJECTED_IMAGES * per_image / n) / 3600:8.1f}")


if __name__ == "__main__":
    main()
