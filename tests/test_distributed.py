"""fastprop.distributed on a two-process LocalCluster over loopback.

The cluster starts once for the module, after this process has compiled the
kernels into the shared Numba cache (tests/run.sh exports NUMBA_CACHE_DIR and
the worker processes inherit it), so the workers load them from disk.
"""

import dask
import dask.array as da
import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from sklearn.model_selection import GridSearchCV

import fastprop
from conftest import assert_close, random_problem
from fastprop import datasets
from fastprop import distributed as fd
from fastprop.sklearn import FastpropClassifier

# No dashboard, and the scheduler's HTTP server on a free port: its default, 8787,
# may be taken by another cluster on the machine (a warning, so an error here).
QUIET = dict(dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


# Numba compiles with the GIL held, for tens of seconds on a cold or bounds-checked
# cache; the scheduler and client share this process, so give their comms room.
# (A CI run once saw the client's connection dropped mid-test, its data lost.)
PATIENT_COMMS = {"distributed.comm.timeouts.connect": "120s",
                 "distributed.comm.timeouts.tcp": "300s"}


@pytest.fixture(scope="module")
def client():
    fd.warm_kernels()
    with (
        dask.config.set(PATIENT_COMMS),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", **QUIET
        ) as cluster,
        Client(cluster, set_as_default=False) as c,
    ):
        yield c


def rel_err(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# ---------------------------------------------------------------- batch


@pytest.mark.parametrize("loss, reduction", [("mse", "mean"), ("bce", "sum")])
def test_batch_equals_single_machine_fit(client, loss, reduction):
    X, Y = random_problem(301, 7, 3, seed=1)
    kw = dict(hidden=(5, 4), mode="batch", lr=1.0 if reduction == "mean" else 0.01, epochs=12,
              loss=loss, reduction=reduction, seed=3)
    ref = fastprop.fit(X, Y, shuffle=False, **kw)
    comp = fd.fit(X, Y, client=client, **kw)
    assert rel_err(comp.params, ref.params) < 1e-12
    assert_close(comp.history, ref.history, np.float64, "history")
    assert comp.history[-1] < comp.history[0]


def test_batch_dask_arrays_uneven_chunks(client):
    X, Y = random_problem(250, 6, 1, seed=2)
    ref = fastprop.fit(X, Y[:, 0], hidden=(4,), mode="batch", shuffle=False, lr=2.0, epochs=10,
                       seed=0)
    # Y 1-d with other chunks than X: it is rechunked to X's row blocks.
    Xd = da.from_array(X, chunks=(40, 3))
    Yd = da.from_array(Y[:, 0], chunks=(77,))
    comp = fd.fit(Xd, Yd, client=client, hidden=(4,), mode="batch", lr=2.0, epochs=10, seed=0)
    assert rel_err(comp.params, ref.params) < 1e-12
    assert_close(comp.history, ref.history, np.float64)


def test_batch_float32_and_continuing_a_network(client):
    X, Y = random_problem(200, 4, 2, dtype=np.float32, seed=4)
    net = fastprop.Network((4, 3, 2), seed=0, dtype=np.float32)
    ref = fastprop.fit(X, Y, network=net.copy(), mode="batch", shuffle=False, lr=1.0, epochs=5)
    comp = fd.fit(X, Y, client=client, network=net, mode="batch", lr=1.0, epochs=5)
    assert comp is net and comp.dtype == np.float32
    assert_close(comp.params, ref.params, np.float32)
    assert len(comp.history) == 5


def test_tol_stops_early(client):
    X, Y = random_problem(100, 3, 1, seed=5)
    ref = fastprop.fit(X, Y, mode="batch", shuffle=False, lr=3.0, epochs=50, tol=0.036, seed=0)
    comp = fd.fit(X, Y, client=client, mode="batch", lr=3.0, epochs=50, tol=0.036, seed=0)
    assert len(comp.history) == len(ref.history) < 50


def test_only_weights_and_gradients_travel(client):
    X, Y = random_problem(2000, 50, 1, seed=6)  # 800 kB of X against 1.2 kB of weights
    client.run(lambda dask_worker: dask_worker.transfer_incoming_log.clear())
    net = fd.fit(X, Y, client=client, hidden=(3,), mode="batch", lr=1.0, epochs=3, seed=0)
    logs = client.run(lambda dask_worker: [t["total"] for t in dask_worker.transfer_incoming_log])
    largest = max((max(t) for t in logs.values() if t), default=0)
    assert 0 < largest < 4 * net.params.nbytes


@pytest.mark.parametrize("mode", fd.MODES)
def test_divergence_keeps_last_finite_weights(client, mode):
    X, Y = random_problem(60, 3, 2, seed=7)
    net = fd.fit(X, Y, (), client=client, mode=mode, loss="bce", epochs=2, seed=0)
    before = net.params.copy()
    # Inputs and a learning rate whose product overflows float64 in the first update.
    with pytest.raises(fastprop.DivergenceError, match=r"(?s)diverged in epoch 3.*smaller lr"):
        fd.fit(X * 1e200, Y, client=client, network=net, mode=mode, loss="bce", lr=1e200,
               epochs=4, seed=0)
    np.testing.assert_array_equal(net.params, before)
    assert len(net.history) == 2


def test_validation_patience_and_callback_as_in_fastprop_fit(client):
    X, Y = random_problem(150, 4, 2, seed=17)
    X_val, Y_val = random_problem(40, 4, 2, seed=18)
    seen = []

    def callback(epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch == 9

    kw = dict(hidden=(3,), mode="batch", lr=4.0, epochs=30, seed=0,
              validation_data=(X_val, Y_val), patience=2)
    ref = fastprop.fit(X, Y, shuffle=False, callback=lambda e, logs: e == 9, **kw)
    comp = fd.fit(X, Y, client=client, callback=callback, **kw)
    assert rel_err(comp.params, ref.params) < 1e-12
    assert_close(comp.history, ref.history, np.float64)
    assert_close(comp.metrics["val_loss"], ref.metrics["val_loss"], np.float64)
    assert len(seen) == len(comp.history) <= 9
    assert seen[0] == (1, ["epoch_seconds", "epochs", "loss", "samples_per_s", "val_loss"])


@pytest.mark.parametrize("scale", ["minmax", "standard"])
def test_scale_as_in_fastprop_fit_and_reused_by_network(client, scale):
    X, Y = random_problem(160, 4, 2, seed=19)
    X = X * [1.0, 100.0, 1e-3, 5.0] + [0.0, -50.0, 2.0, 7.0]
    X[:, 2] = 3.0  # a constant column
    kw = dict(hidden=(3,), mode="batch", lr=2.0, epochs=6, seed=0)
    ref = fastprop.fit(X, Y, scale=scale, shuffle=False, **kw)
    comp = fd.fit(da.from_array(X, chunks=(50, 4)), da.from_array(Y, chunks=(50, 2)),
                  client=client, scale=scale, **kw)
    assert comp.scaler.kind == scale
    for attr in ("shift", "scale"):
        assert rel_err(getattr(comp.scaler, attr), getattr(ref.scaler, attr)) < 1e-14
    assert rel_err(comp.params, ref.params) < 1e-12
    # Continuing: network= brings its scaler, applied on the workers.
    ref2 = fastprop.fit(X, Y, network=ref.copy(), mode="batch", shuffle=False, lr=2.0, epochs=3)
    comp2 = fd.fit(X, Y, client=client, network=comp, mode="batch", lr=2.0, epochs=3)
    assert rel_err(comp2.params, ref2.params) < 1e-12
    assert_close(comp2.history, ref2.history, np.float64)


def test_classify_as_in_fastprop_fit(client):
    X, _ = random_problem(150, 3, 1, seed=20)
    y = np.array(["cat", "dog", "emu"])[(X[:, 0] * 3).astype(int)]
    kw = dict(hidden=(4,), mode="batch", lr=2.0, epochs=5, seed=0, classify=True)
    ref = fastprop.fit(X, y, shuffle=False, **kw)
    comp = fd.fit(da.from_array(X, chunks=(60, 3)), da.from_array(y, chunks=60),
                  client=client, **kw)
    np.testing.assert_array_equal(comp.classes, ref.classes)
    assert rel_err(comp.params, ref.params) < 1e-12
    assert_close(comp.history, ref.history, np.float64)
    # Accuracy at the last epoch only, as fastprop.fit records it without monitoring.
    np.testing.assert_array_equal(comp.metrics["accuracy"], ref.metrics["accuracy"])
    assert np.isnan(comp.metrics["accuracy"][0]) and comp.metrics["accuracy"][-1] > 0


def test_validation_split_holds_out_the_rows_fastprop_fit_does(client):
    X, _ = random_problem(170, 3, 1, seed=21)
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    kw = dict(hidden=(3,), mode="batch", lr=3.0, epochs=6, seed=4, classify=True,
              scale="standard", validation_split=0.3, patience=50)
    ref = fastprop.fit(X, y, shuffle=False, **kw)
    comp = fd.fit(X, y, client=client, **kw)
    assert rel_err(comp.params, ref.params) < 1e-12
    assert_close(comp.history, ref.history, np.float64)
    assert sorted(comp.metrics) == ["accuracy", "val_accuracy", "val_loss"]
    for name, values in ref.metrics.items():
        assert_close(comp.metrics[name], values, np.float64, name)


@pytest.mark.parametrize("how", ["retired", "removed"])
def test_lost_worker_is_a_clear_error(how):
    # A cluster of its own (in this process), one of whose two workers leaves after
    # epoch 2: retired (its pinned tasks would wait for it forever) or dropped by the
    # scheduler as if it had died (its partitions are lost). SIGKILL of a worker process
    # ends the same way (checked by hand; a process cluster is too slow to start here).
    X, Y = random_problem(60, 3, 1, seed=22)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, **QUIET) as cluster,
        Client(cluster, set_as_default=False) as c,
    ):
        async def remove(dask_scheduler, victim):
            await dask_scheduler.remove_worker(victim, stimulus_id="test-lost-worker")

        def callback(epoch, logs):
            if epoch == 2:
                victim = sorted(c.nthreads())[1]
                if how == "retired":
                    c.retire_workers([victim], close_workers=True)
                else:
                    c.run_on_scheduler(remove, victim=victim)

        with pytest.raises(fd.WorkerLostError, match=r"left the cluster.*error.network") as err:
            fd.fit(X, Y, client=c, mode="batch", epochs=5, seed=0, scale="minmax",
                   callback=callback)
    assert len(err.value.network.history) == 2
    assert np.isfinite(err.value.network.params).all()


# ---------------------------------------------------------------- minibatch


def test_minibatch_equals_single_machine_on_interleaved_rows(client):
    # Two partitions of 120 rows, batch_size 40: 6 steps, each taking 20
    # consecutive rows from each partition. On one machine that is mini-batch
    # training over the rows reordered into those batches.
    X, Y = random_problem(240, 5, 2, seed=8)
    order = np.concatenate(
        [np.r_[20 * k : 20 * k + 20, 120 + 20 * k : 120 + 20 * k + 20] for k in range(6)]
    )
    ref = fastprop.fit(X[order], Y[order], hidden=(4,), mode="minibatch", batch_size=40,
                       shuffle=False, lr=2.0, epochs=4, seed=1)
    comp = fd.fit(da.from_array(X, chunks=(120, 5)), da.from_array(Y, chunks=(120, 2)),
                  client=client, hidden=(4,), mode="minibatch", batch_size=40, shuffle=False,
                  lr=2.0, epochs=4, seed=1)
    assert rel_err(comp.params, ref.params) < 1e-12
    assert_close(comp.history, ref.history, np.float64)


def test_minibatch_unequal_partitions_and_shuffle(client):
    X, Y = random_problem(130, 4, 1, seed=9)
    chunks = (50, 80)
    kw = dict(hidden=(3,), mode="minibatch", batch_size=45, lr=1.0, epochs=3, seed=2)
    Xd, Yd = da.from_array(X, chunks=(chunks, 4)), da.from_array(Y, chunks=(chunks, 1))
    comp = fd.fit(Xd, Yd, client=client, shuffle=False, **kw)
    # By hand: 3 steps; partition p gives rows k*n_p//3 .. (k+1)*n_p//3 to step k.
    net = fastprop.Network((4, 3, 1), seed=2)
    starts = (0, 50)
    for _ in range(3):
        for k in range(3):
            rows = np.concatenate([
                s + np.arange(k * n // 3, (k + 1) * n // 3)
                for s, n in zip(starts, chunks, strict=True)
            ])
            _, gW, gb = fastprop.gradients(net, X[rows], Y[rows])
            for W, b, dW, db in zip(net.weights, net.biases, gW, gb, strict=True):
                W -= 1.0 * dW
                b -= 1.0 * db
    assert rel_err(comp.params, net.params) < 1e-12
    shuffled = [fd.fit(Xd, Yd, client=client, shuffle=True, **kw).params for _ in range(2)]
    np.testing.assert_array_equal(shuffled[0], shuffled[1])
    assert rel_err(shuffled[0], comp.params) > 1e-9


# ---------------------------------------------------------------- average


def test_average_one_partition_is_single_machine_sgd(client):
    X, Y = random_problem(80, 3, 1, seed=10)
    ref = fastprop.fit(X, Y, hidden=(4,), mode="sgd", shuffle=False, lr=0.5, epochs=6, seed=0)
    comp = fd.fit(da.from_array(X, chunks=(80, 3)), da.from_array(Y, chunks=(80, 1)),
                  client=client, hidden=(4,), mode="average", local_mode="sgd", shuffle=False,
                  sync_every=4, lr=0.5, epochs=6, seed=0)
    assert rel_err(comp.params, ref.params) < 1e-12
    assert_close(comp.history, ref.history, np.float64)


def test_average_is_the_size_weighted_mean_of_local_models(client):
    X, Y = random_problem(90, 3, 2, seed=11)
    kw = dict(batch_size=8, shuffle=False, lr=0.5)
    net = fastprop.Network((3, 4, 2), seed=0)
    for _ in range(2):  # two rounds of 2 local epochs
        a = fastprop.fit(X[:30], Y[:30], network=net.copy(), mode="minibatch", epochs=2, **kw)
        b = fastprop.fit(X[30:], Y[30:], network=net.copy(), mode="minibatch", epochs=2, **kw)
        net.params[...] = (30 * a.params + 60 * b.params) / 90
    comp = fd.fit(da.from_array(X, chunks=((30, 60), 3)), da.from_array(Y, chunks=((30, 60), 2)),
                  client=client, hidden=(4,), mode="average", local_mode="minibatch",
                  sync_every=2, epochs=4, seed=0, **kw)
    assert rel_err(comp.params, net.params) < 1e-12
    assert len(comp.history) == 4


def test_average_learns_digits(client):
    X, y = datasets.load_digits()
    X_train, X_test, y_train, y_test = datasets.train_test_split(X[:600], y[:600], seed=0)
    net = fd.fit(X_train, datasets.one_hot(y_train, 10), client=client, hidden=(16,),
                 mode="average", local_mode="minibatch", batch_size=16, lr=1.0, loss="bce",
                 epochs=8, sync_every=2, seed=0)
    assert net.history[-1] < 0.5 * net.history[0]
    assert datasets.accuracy(y_test, net.predict(X_test)) > 0.8


# ---------------------------------------------------------------- warm kernels


def test_workers_compile_once(client):
    X, Y = random_problem(64, 3, 1, seed=12)
    warm = client.run(lambda dask_worker: dask_worker.fastprop_signatures)
    # Per-sample local SGD on a first layer large enough for the deferred kernel.
    Xw, Yw = random_problem(64, 32, 1, seed=12)
    for dt in (np.float64, np.float32):
        for mode in fd.MODES:
            fd.fit(X.astype(dt), Y.astype(dt), client=client, mode=mode, epochs=2, seed=0)
        fd.fit(Xw.astype(dt), Yw.astype(dt), (256,), client=client, mode="average",
               local_mode="sgd", epochs=1, seed=0)
    assert client.run(fd._signature_count) == warm
    assert len(warm) == 2


# ---------------------------------------------------------------- sweep


def test_sweep_grid_sorted_best_first(client):
    X, Y = random_problem(200, 4, 1, seed=13)
    results = fd.sweep({"lr": [0.1, 3.0], "hidden": [(2,), (6,)], "epochs": [15], "seed": [0]},
                       X, Y, client=client)
    assert len(results) == 4
    scores = [r.score for r in results]
    assert scores == sorted(scores) and np.isfinite(scores).all()
    for r in results:
        assert isinstance(r.network, fastprop.Network) and len(r.network.history) == 15
        assert r.network.layer_sizes[1:-1] == r.settings["hidden"] and r.error is None
    best = results[0]
    X_train, X_val, Y_train, Y_val = datasets.train_test_split(X, Y, test_fraction=0.2, seed=0)
    again = fastprop.fit(X_train, Y_train, **best.settings)
    assert best.score == again.loss(X_val, Y_val)


def test_sweep_list_dask_input_and_divergence(client):
    X, Y = random_problem(120, 3, 1, seed=14)
    X *= 1e200
    settings = [dict(lr=1e200, hidden=(), loss="bce", epochs=3, seed=0),
                dict(lr=1.0, loss="bce", epochs=3, seed=0)]
    results = fd.sweep(settings, da.from_array(X, chunks=(50, 3)), da.from_array(Y, chunks=50),
                       client=client, validation_split=0.25)
    assert [r.settings for r in results] == settings[::-1]
    assert results[1].score == np.inf and "diverged" in results[1].error
    assert np.isfinite(results[1].network.params).all()


def test_grid_search_under_joblib_dask_backend(client):
    X, y = datasets.load_digits()
    X, y = X[:200], y[:200]
    grid = {"lr": [0.5, 2.0], "hidden": [(8,), (16,)]}
    est = FastpropClassifier(epochs=5, batch_size=16, random_state=0)
    serial = GridSearchCV(est, grid, cv=2).fit(X, y)
    with (
        get_task_stream(client) as tasks,
        client.as_current(),
        joblib.parallel_backend("dask"),
    ):
        search = GridSearchCV(est, grid, cv=2, n_jobs=-1).fit(X, y)
    assert tasks.data, "the fits ran as Dask tasks"
    assert search.best_params_ == serial.best_params_
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )


# ---------------------------------------------------------------- errors


def test_no_client_is_a_clear_error():
    X, Y = random_problem(10, 2, 1)
    with pytest.raises(ValueError, match="no Dask client"):
        fd.fit(X, Y)
    with pytest.raises(ValueError, match="no Dask client"):
        fd.sweep([{}], X, Y)
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        fd.fit(X, Y, client="tcp://127.0.0.1:8786")


def test_current_client_is_used(client):
    X, Y = random_problem(50, 2, 1, seed=15)
    with client.as_current():
        net = fd.fit(X, Y, mode="batch", epochs=2, seed=0)
    assert len(net.history) == 2


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(mode="sgd"), ValueError, "mode must be one of 'batch', 'minibatch', 'average'"),
        (dict(local_mode="batch"), ValueError, "local_mode must be one of 'sgd', 'minibatch'"),
        (dict(sync_every=0), ValueError, "sync_every must be >= 1"),
        (dict(lr=-1.0), ValueError, "lr must be a finite number > 0"),
        (dict(epochs=1.5), TypeError, "epochs must be an integer"),
        (dict(timings=()), TypeError, "timings must be a list or None"),
        (dict(network="net"), TypeError, "network must be a fastprop.Network"),
        (dict(network=fastprop.Network((3, 1))), ValueError, "network= takes 3 inputs"),
        (dict(scale="cube"), ValueError, "scale must be"),
        (dict(validation_split=0.01), ValueError, "leaves the training or the validation part"),
        (dict(validation_split=0.2, validation_data=(np.zeros((3, 2)), np.zeros(3))), ValueError,
         "give validation_split or validation_data, not both"),
        (dict(patience=0), ValueError, "patience must be >= 1"),
        (dict(callback=3), TypeError, "callback must be callable"),
        (dict(threads=0), ValueError, "threads must be between 1"),
        (dict(mode="average", sync_every=2, patience=3), ValueError, "need sync_every=1"),
        (dict(validation_data=(np.zeros((3, 5)), np.zeros(3))), ValueError,
         "validation_data.0. has 5 features but X has 2"),
    ],
)
def test_bad_arguments(client, kwargs, error, match):
    X, Y = random_problem(20, 2, 1)
    with pytest.raises(error, match=match):
        fd.fit(X, Y, client=client, **kwargs)


def test_bad_data(client):
    X, Y = random_problem(200, 3, 1, seed=16)
    X[150, 2] = np.nan
    # Checked on the workers, partition by partition; the index is the whole array's.
    with pytest.raises(ValueError, match=r"X contains NaN or inf \(first at index \(150, 2\)\)"):
        fd.fit(da.from_array(X, chunks=(100, 3)), da.from_array(Y, chunks=100), client=client)
    with pytest.raises(ValueError, match=r"X contains NaN or inf \(first at index \(150, 2\)\)"):
        fd.fit(X, Y, client=client)
    X[150, 2] = 0.5
    with pytest.raises(ValueError, match="X and Y must have the same number of rows"):
        fd.fit(da.from_array(X), da.from_array(Y[:-1]), client=client)
    with pytest.raises(ValueError, match=r"X must be 2-d \(samples, features\)"):
        fd.fit(da.from_array(X[:, 0]), da.from_array(Y), client=client)
    with pytest.raises(ValueError, match="Y must be 1-d or 2-d"):
        fd.fit(da.from_array(X), da.from_array(Y[:, :, None]), client=client)
    with pytest.raises(TypeError, match="X must hold numbers"):
        fd.fit(da.from_array(X.astype(str)), da.from_array(Y), client=client)
    with pytest.raises(ValueError, match=r"Y must lie in \[0, 1\] for loss='bce'"):
        fd.fit(da.from_array(X, chunks=(100, 3)), da.from_array(Y * 3, chunks=100),
               client=client, loss="bce")
    scaled = fastprop.fit(X, Y, scale="standard", epochs=1, seed=0)
    with pytest.raises(ValueError, match="scale='minmax' differs from network='s stored"):
        fd.fit(X, Y, client=client, network=scaled, scale="minmax")
    with pytest.raises(ValueError, match="Y must be 1-d class labels with classify=True"):
        fd.fit(da.from_array(X), da.from_array(Y), client=client, classify=True)
    with pytest.raises(ValueError, match="Y must be 1-d class labels with classify=True"):
        fd.fit(X, Y, client=client, classify=True)
    labels = np.array(["a", "b", "c"])[np.arange(200) % 3]
    with pytest.raises(ValueError, match=r"Y needs at least two classes.*got only \['a'\]"):
        fd.fit(da.from_array(X, chunks=(100, 3)), da.from_array(np.full(200, "a"), chunks=70),
               client=client, classify=True)
    with pytest.raises(ValueError, match="network= has 1 outputs but Y has 3 classes"):
        fd.fit(X, labels, client=client, classify=True, network=fastprop.Network((3, 1)))
    two = fastprop.fit(X[:4], labels[:4] != "a", classify=True, epochs=1, seed=0)
    with pytest.raises(ValueError, match="Y holds <U1 labels but the classes are bool"):
        fd.fit(da.from_array(X, chunks=(100, 3)), da.from_array(labels, chunks=100),
               client=client, classify=True, network=two)


@pytest.mark.parametrize(
    "settings, kwargs, error, match",
    [
        ("lr", {}, TypeError, "settings must be a list of dicts"),
        ([], {}, ValueError, "settings is empty"),
        ([{"lr": 1.0}, 3], {}, TypeError, r"settings\[1\] must be a dict"),
        ({"lr": 1.0}, {}, TypeError, r"settings\['lr'\] must be a list"),
        ([{"learning_rate": 1.0}], {}, TypeError, r"settings\[0\] has unknown fit arguments"),
        ([{"epochs": 1}, {"lr": -2.0}], {}, ValueError, r"settings\[1\]: lr must be a finite"),
        ([{}], {"validation_split": 1.0}, ValueError, "validation_split must lie strictly"),
        ([{}], {"validation_split": 0.001}, ValueError, "leaves one part empty"),
    ],
)
def test_bad_sweeps(client, settings, kwargs, error, match):
    X, Y = random_problem(30, 2, 1)
    with pytest.raises(error, match=match):
        fd.sweep(settings, X, Y, client=client, **kwargs)
