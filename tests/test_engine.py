"""The noise engine, the stored responses and the reductions: exact, chunked, mergeable."""

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from revcor.core import engine, responses
from revcor.core.reduce import Reducer, int_products, predict, reduce_chunk, reducing
from revcor.core.stats import Layout, Stats, merge, rounds
from revcor.noise import sources
from revcor.noise.rng import backend

CPU = torch.device("cpu")


class Linear(nn.Module):
    """A fixed linear classifier on 1x6x6 images: known, fast, deterministic."""

    def __init__(self, k: int = 3):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(k, 36, generator=g))

    def forward(self, x):
        return (x.flatten(1) - 0.5) @ self.w.T


def run_parts(tmp_path, jobs, n=1000, chunk_size=128, store_stimuli=True, signal=None, k=3):
    """The merged statistics of an experiment run as ``jobs`` parts, each reduced as it runs."""
    model = Linear(k).eval()
    src = sources.WhiteNoise((1, 6, 6))
    layout = Layout([str(i) for i in range(k)]) if signal is None else Layout(["0", "1"], ["0", "1"], signal.gammas)
    parts = []
    for j in range(jobs):
        idx = engine.part_chunks(n, chunk_size, jobs, j)
        start, stop = engine.chunk_span(idx[0], n, chunk_size)[0], engine.chunk_span(idx[-1], n, chunk_size)[1]
        n_logits = model.w.shape[0] if k > 1 else 1
        reducer = Reducer(layout, src.shape, n_logits, [100, 500, n], start, stop, CPU)
        chunks = engine.run(
            model,
            src,
            n=n,
            seed=7,
            chunk_size=chunk_size,
            chunks=idx,
            batch_size=50,
            device=CPU,
            signal=signal,
            progress=False,
        )
        responses.write(
            tmp_path / f"jobs{jobs}" / f"part{j}.h5",
            reducing(chunks, reducer, src, signal),
            n=n,
            chunk_size=chunk_size,
            chunk_indices=idx,
            source=src,
            n_logits=n_logits,
            attrs={"seed": 7, "rng": backend(CPU)},
            store_stimuli=store_stimuli,
        )
        parts.append(reducer.result())
    return merge(parts)


def reduce_stored(path, layout, checkpoints, signal=None):
    """The statistics of a responses artifact's stored stimuli, read back from the file."""
    src = sources.WhiteNoise((1, 6, 6))
    with h5py.File(path) as f:
        n, size, start, stop = (int(f.attrs[k]) for k in ("n", "chunk_size", "start", "stop"))
        reducer = Reducer(layout, src.shape, f["logits"].shape[1], checkpoints, start, stop, CPU)
        for lo in range(start, stop, size):
            part = {key: torch.from_numpy(f[key][lo - start : min(lo + size, stop) - start]) for key in f}
            extra = () if signal is None else (signal, part["signal_index"], part["gamma_index"])
            reduce_chunk(reducer, src, lo, part["stimuli"], part["logits"], *extra)
    return reducer.result()


def test_parts_tile_the_chunks_and_a_part_without_chunks_is_refused():
    parts = [engine.part_chunks(1000, 128, 3, j) for j in range(3)]
    assert [i for r in parts for i in r] == list(range(engine.n_chunks(1000, 128)))
    with pytest.raises(ValueError, match="part 0 of 9 has no chunks: use at most 8 jobs"):
        engine.part_chunks(1000, 128, 9, 0)


def test_chunks_are_reproducible_and_independent_of_order():
    src = sources.WhiteNoise((1, 6, 6))
    a = engine.draw(src, 3, 5, 1000, 100, CPU)[0]
    b = engine.draw(src, 3, 5, 1000, 100, CPU)[0]
    c = engine.draw(src, 3, 6, 1000, 100, CPU)[0]
    d = engine.draw(src, 4, 5, 1000, 100, CPU)[0]
    assert a.dtype == torch.uint8 and a.shape == (100, 1, 6, 6)
    assert torch.equal(a, b)
    assert not torch.equal(a, c) and not torch.equal(a, d)
    # uniform over 0..255: mean 127.5
    big = engine.draw(src, 0, 0, 10**5, 10**5, CPU)[0].double()
    assert abs(big.mean().item() - 127.5) < 0.5


def test_split_into_jobs_gives_identical_maps(tmp_path):
    one = run_parts(tmp_path, 1)
    three = run_parts(tmp_path, 3)
    assert one.start == three.start == 0 and one.stop == three.stop == 1000
    for key in one.arrays:
        np.testing.assert_allclose(three[key], one[key], rtol=1e-12, atol=1e-12)
    assert one["count"][-1].sum() == 1000


@pytest.mark.parametrize("signal", [False, True])
def test_a_seed_run_gives_the_maps_of_a_stored_run(tmp_path, signal):
    """Noise is a seed: the statistics reduced as the engine runs, with nothing stored, equal
    those of the stored stimuli read back from the file, and each stored chunk is regenerated
    exactly from its key."""
    sig = None
    layout = Layout(["0", "1", "2"])
    if signal:
        g = torch.Generator().manual_seed(1)
        sig = engine.Signal(torch.rand(20, 1, 6, 6, generator=g), torch.arange(20) % 2, [0.2, 0.5])
        layout = Layout(["0", "1"], ["0", "1"], sig.gammas)
    seeded = run_parts(tmp_path / "seed", 2, store_stimuli=False, signal=sig, k=1 if signal else 3)
    run_parts(tmp_path / "stored", 2, store_stimuli=True, signal=sig, k=1 if signal else 3)
    parts = sorted((tmp_path / "stored" / "jobs2").glob("part*.h5"))
    stored = merge([reduce_stored(p, layout, [100, 500, 1000], sig) for p in parts])
    assert set(seeded.arrays) == set(stored.arrays)
    for key in stored.arrays:
        np.testing.assert_array_equal(seeded[key], stored[key], err_msg=key)
    with h5py.File(parts[1]) as f:
        first = int(f.attrs["first_chunk"])
        again = engine.draw(sources.WhiteNoise((1, 6, 6)), 7, first, 1000, 128, CPU, sig)
        assert torch.equal(again[0], torch.from_numpy(f["stimuli"][:128]))
        if signal:
            assert torch.equal(again[1], torch.from_numpy(f["signal_index"][:128]))
    # a seed run keeps the answers, not the stimuli: 3 logits + a label per image
    with h5py.File(tmp_path / "seed" / "jobs2" / "part0.h5") as f:
        assert "stimuli" not in f and not f.attrs["store_stimuli"]
    assert (tmp_path / "seed" / "jobs2" / "part0.h5").stat().st_size < 500 * (3 * 4 + 8) + 20_000


def test_reduction_matches_direct_computation(tmp_path):
    n = 1000
    stats = run_parts(tmp_path, 2, n=n)
    model = Linear().eval()
    src = sources.WhiteNoise((1, 6, 6))
    x = torch.cat([engine.draw(src, 7, i, n, 128, CPU)[0] for i in range(engine.n_chunks(n, 128))])
    x = x.double().div(255).reshape(n, -1)
    logits = model(x.float().reshape(n, 1, 6, 6)).detach()
    labels, conf = predict(logits)
    torch.testing.assert_close(conf, torch.softmax(logits.double(), 1).max(1).values, rtol=1e-15, atol=0)
    for p, cp in enumerate([100, 500, n]):
        for k in range(3):
            m = labels[:cp] == k
            assert stats["count"][p, 0, 0, k] == m.sum().item()
            np.testing.assert_allclose(stats["sum"][p, 0, 0, k], x[:cp][m].sum(0).numpy(), rtol=1e-12)
            np.testing.assert_allclose(stats["sumsq"][p, 0, 0, k], (x[:cp][m] ** 2).sum(0).numpy(), rtol=1e-12)
            w = conf[:cp][m]
            np.testing.assert_allclose(stats["wsum"][p, 0, 0, k], (x[:cp][m] * w[:, None]).sum(0).numpy(), rtol=1e-9)
            t = m & (conf[:cp] > 0.9)
            assert stats["tcount"][p, 0, 0, k] == t.sum().item()
        np.testing.assert_allclose(stats["xsum"][p], logits[:cp].double().T @ x[:cp], rtol=1e-6, atol=1e-6)


def test_signal_trials_group_by_gamma_signal_and_response(tmp_path):
    g = torch.Generator().manual_seed(1)
    images = torch.rand(20, 1, 6, 6, generator=g)
    signal = engine.Signal(images, torch.arange(20) % 2, [0.0, 0.5, 1.0])
    stats = run_parts(tmp_path, 2, n=900, signal=signal, k=1)
    # groups (gamma, signal, response): 3 x 2 x 2; each gamma gets a third of the trials
    counts = stats["count"][-1].reshape(3, 2, 2)
    assert counts.sum() == 900
    np.testing.assert_array_equal(counts.sum(axis=(1, 2)), [300, 300, 300])
    one = run_parts(tmp_path / "one", 1, n=900, signal=signal, k=1)
    np.testing.assert_allclose(stats["ssum"], one["ssum"], rtol=1e-12)


def test_stats_roundtrip_and_merge_checks(tmp_path):
    stats = run_parts(tmp_path, 1)
    stats.save(tmp_path / "s.h5")
    back = Stats.load(tmp_path / "s.h5")
    assert back.checkpoints == stats.checkpoints and back.layout == stats.layout
    np.testing.assert_array_equal(back["sum"], stats["sum"])
    gap = Stats(stats.layout, stats.checkpoints, stats.image_shape, stats.arrays, 10, 20)
    with pytest.raises(ValueError, match="tile"):
        merge([stats, gap])


def test_uint8_levels_reduce_exactly_as_their_float_values():
    g = torch.Generator().manual_seed(3)
    levels = torch.randint(0, 256, (3000, 1, 6, 6), dtype=torch.uint8, generator=g)
    levels[:2000] = 255  # the largest sums of squares, over more than one batch
    levels[2000:2256] = torch.arange(256, dtype=torch.uint8).view(-1, 1, 1, 1)  # every level
    logits = torch.randn(3000, 3, generator=g)
    layout = Layout(["a", "b", "c"])
    stats = {}
    for kind, noise, step in (("levels", levels, 2048), ("float", levels.double() / 255, 600)):
        red = Reducer(layout, (1, 6, 6), 3, [100, 2100, 3000], 0, 3000, CPU)
        for i in range(0, 3000, step):  # the first batch straddles two checkpoints
            red.update(i, noise[i : i + step], logits[i : i + step])
        stats[kind] = red.result()
    for key, value in stats["float"].arrays.items():
        np.testing.assert_allclose(stats["levels"][key], value, rtol=1e-13, atol=1e-12, err_msg=key)
    # the sums of levels and of their squares are exact integers per checkpoint bucket, each
    # scaled once, then cumulated (as parts ending at the checkpoints merge)
    labels = predict(logits)[0]
    for k in range(3):
        buckets = [
            levels[a:b][labels[a:b] == k].reshape(-1, 36).long() for a, b in ((0, 100), (100, 2100), (2100, 3000))
        ]
        for key, power in (("sum", 1), ("sumsq", 2)):
            exact = np.cumsum([v.pow(power).sum(0).double().numpy() / 255**power for v in buckets], axis=0)
            np.testing.assert_array_equal(stats["levels"][key][:, 0, 0, k], exact, err_msg=key)
    red = Reducer(layout, (1, 6, 6), 3, [3000], 0, 3000, CPU)
    red.update(0, levels[:10], logits[:10])
    with pytest.raises(ValueError, match="uint8 levels or float noise, not both"):
        red.update(10, levels[10:20].double(), logits[10:20])


def test_int8_products_are_exact_for_any_shape():
    g = torch.Generator().manual_seed(4)
    for m, k, n in ((3, 5, 7), (30, 1024, 784), (1, 1, 1), (20, 1000, 1570)):
        a = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=g)
        b = torch.randint(-128, 128, (k, n), dtype=torch.int8, generator=g)
        out = int_products(a, b)
        assert out.dtype == torch.int32 and out.shape == (m, n)
        torch.testing.assert_close(out.long(), a.long() @ b.long(), rtol=0, atol=0)


def test_reducer_memory_does_not_depend_on_n():
    layout = Layout(["a", "b"])
    small = Reducer(layout, (1, 6, 6), 2, [10], 0, 10, CPU)
    large = Reducer(layout, (1, 6, 6), 2, [10**9], 0, 10**9, CPU)
    size = lambda r: sum(v.numel() for v in r.acc.values())  # noqa: E731
    assert size(small) == size(large)


def test_bf16_runs_and_agrees_with_fp32(tmp_path):
    from revcor.models import architectures, loading
    from revcor.pipeline import responses as pipeline_responses

    torch.manual_seed(0)
    model = architectures.build("mlp", (1, 8, 8), 3)
    path = tmp_path / "mlp.pt"
    loading.save(
        model, path, arch="mlp", in_shape=(1, 8, 8), num_classes=3, kwargs={}, meta={"classes": ["a", "b", "c"]}
    )
    spec = {
        "model": "x/mlp",
        "n": 4000,
        "seed": 0,
        "jobs": 1,
        "checkpoints": [],
        "signal": None,
        "noise": {"kind": "white"},
    }
    cfg = {
        "batch_size": 500,
        "chunk_size": 1000,
        "storage": "uint8",
        "compression": "none",
        "store_stimuli": True,
        "threshold": 0.9,
        "compile": False,
    }
    counts = {}
    for precision in ("fp32", "bf16"):
        responses_path, stats_path = tmp_path / f"{precision}.h5", tmp_path / f"{precision}-stats.h5"
        pipeline_responses.part(
            spec, cfg, path, responses_path, stats_path, 0, device=CPU, precision=precision, progress=False
        )
        counts[precision] = Stats.load(stats_path)["count"][-1, 0, 0]
    assert counts["fp32"].sum() == counts["bf16"].sum() == 4000
    # bf16 rounding flips only answers close to a decision boundary
    assert np.abs(counts["fp32"] - counts["bf16"]).sum() < 0.05 * 4000


def test_auto_rounds_double_the_samples_in_whole_chunks_up_to_max_n():
    assert rounds(10_000, 1000) == [1000, 2000, 4000, 8000, 10_000]
    assert rounds(1000, 4096) == [1000]
    assert [list(engine.round_chunks(i, 10_000, 1000)) for i in range(5)] == [[0], [1], [2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(ValueError, match="round 5 out of range: 5 rounds reach 10,000 samples"):
        engine.round_chunks(5, 10_000, 1000)


# --------------------------------------------------------------------------- compiled forward passes


class SmallCNN(nn.Module):
    """A convolution, batch norm and pooling (the layers compilers fuse) on 1x12x12 images."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.bn, self.fc = nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Linear(4 * 5 * 5, 3)
        self.bn.running_mean.uniform_(0.2, 0.4)

    def forward(self, x):
        return self.fc(torch.max_pool2d(torch.relu(self.bn(self.conv(x))), 2).flatten(1))


def classify(compile, **kwargs):
    from revcor import api

    # 2,600 images in chunks of 1,000 and batches of 256: every chunk ends in a short batch
    common = {"input_shape": (1, 12, 12), "batch_size": 256, "chunk_size": 1000, "progress": False, "device": "cpu"}
    return api.classification_images(SmallCNN().eval(), 2600, compile=compile, **common, **kwargs)


def test_compiled_forward_passes_give_the_eager_maps(compile_cache):
    eager, compiled = classify(False), classify(True)
    assert (eager.attrs["compiled"], compiled.attrs["compiled"]) == ("eager", "default")
    assert any(compile_cache.rglob("*.py"))  # inductor's generated code, cached on disk
    np.testing.assert_array_equal(compiled["count"], eager["count"])  # every label the same
    assert 0 < eager["count"][-1, 0, 0].min()  # all three classes answered
    for key in ("sum", "sumsq", "xsum"):
        np.testing.assert_allclose(compiled[key], eager[key], rtol=1e-6, atol=1e-9, err_msg=key)
    assert classify("auto").attrs["compiled"] == "eager"  # 2,600 images: compiling would not pay


def test_compiling_is_timed_in_the_first_chunk_and_recorded_with_the_responses(compile_cache, tmp_path):
    src, idx = sources.WhiteNoise((1, 12, 12)), range(3)
    common = {"n": 2600, "seed": 0, "chunk_size": 1000, "chunks": idx, "batch_size": 256, "device": CPU}
    chunks = list(engine.run(SmallCNN().eval(), src, **common, compiled="default", progress=False))
    times = [c.compile_s for c in chunks]
    path = tmp_path / "part0.h5"
    attrs = {"experiment": "compiled", "seed": 0, "rng": backend(CPU)}
    responses.write(path, chunks, n=2600, chunk_size=1000, chunk_indices=idx, source=src, n_logits=3, attrs=attrs)
    assert times[0] > 0 and times[1:] == [0, 0]
    with h5py.File(path) as f:
        assert f.attrs["compile_s"] == times[0]
    eager = engine.run(SmallCNN().eval(), src, **common, compiled=None, progress=False)
    assert [c.compile_s for c in eager] == [0, 0, 0]


def failing(gm, inputs):
    raise RuntimeError("no kernels for this machine")


def negated(gm, inputs):
    return lambda *args: [-out for out in gm(*args)]


def test_a_model_that_does_not_compile_runs_eagerly_and_changed_answers_are_reported(
    compile_cache, monkeypatch, caplog
):
    eager = classify(False)
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: real(model, backend=failing))
    with caplog.at_level("WARNING", logger="revcor.core.engine"):
        fallback = classify(True)
    assert [r.getMessage() for r in caplog.records] == [
        "torch.compile failed, running eagerly: RuntimeError: no kernels for this machine"
    ]
    np.testing.assert_array_equal(fallback["sum"], eager["sum"])
    caplog.clear()
    torch._dynamo.reset()
    monkeypatch.setattr(torch, "compile", lambda model, **kw: real(model, backend=negated))
    with caplog.at_level("WARNING", logger="revcor.core.engine"):
        classify(True)
    (record,) = caplog.records
    assert record.getMessage().startswith("compiled and eager forward passes label ")
    assert record.getMessage().endswith(" of 256 images differently")
