"""Model averaging (``fastprop.distributed.fit(mode="average")``) against
single-machine SGD on the bundled digits (not part of CI).

Trains a 64-32-10 network with binary cross-entropy on 75% of the digits,
per sample and in mini-batches of 32, on one machine and with the rows split
over 2 workers that average their models every ``sync_every`` epochs. Prints
each run's epoch losses (as ``history`` measures them: each sample scored as
it is seen, averaged over the shards for the averaged runs), the final loss
on all training rows, the held-out accuracy and the wall time.

    python asv_bench/distributed_average.py [--epochs 20] [--workers 2]
"""

import argparse
import time

from distributed import Client, LocalCluster

import fastprop
from fastprop import datasets
from fastprop import distributed as fd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    X, y = datasets.load_digits()
    X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, seed=0)
    T = datasets.one_hot(y_train, 10)
    common = dict(hidden=(32,), loss="bce", epochs=args.epochs, seed=0)
    local = {"sgd": dict(lr=0.2), "minibatch": dict(lr=1.0, batch_size=32)}

    fd.warm_kernels()
    runs = []
    for mode, kw in local.items():
        t0 = time.perf_counter()
        net = fastprop.fit(X_train, T, mode=mode, **kw, **common)
        runs.append((f"1 process, {mode}", net, time.perf_counter() - t0))
    with (
        LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        for mode, kw in local.items():
            for sync_every in (1, 5):
                t0 = time.perf_counter()
                net = fd.fit(X_train, T, client=client, mode="average", local_mode=mode,
                             sync_every=sync_every, **kw, **common)
                label = f"{args.workers} workers, average {mode}, sync_every={sync_every}"
                runs.append((label, net, time.perf_counter() - t0))

    marks = [e for e in (1, 2, 5, 10, 20, 50, 100) if e <= args.epochs]
    print("\nepoch loss (bce, mean over samples) on the digits training rows\n")
    print("| run | " + " | ".join(f"epoch {e}" for e in marks)
          + " | final loss, all rows | test accuracy | wall s |")
    print("|---|" + "---:|" * (len(marks) + 3))
    for label, net, seconds in runs:
        losses = " | ".join(f"{net.history[e - 1]:.4f}" for e in marks)
        final = net.loss(X_train, T, loss="bce")
        acc = datasets.accuracy(y_test, net.predict(X_test))
        print(f"| {label} | {losses} | {final:.4f} | {acc:.3f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
