"""Device choice and the engine settings that adapt to it."""

import logging
import platform

import numpy as np
import pytest
import torch

from revcor.base import device

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
ENGINE = {"batch_size": "auto", "chunk_size": "auto", "storage": "uint8"}


def test_auto_is_cpu_here_and_missing_devices_are_clear_errors():
    assert device.resolve("auto") == (CUDA if torch.cuda.is_available() else CPU)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            device.resolve("cuda:0")


def test_freed_buffers_are_reused_without_new_page_faults():
    """What every batch does: allocate a few large buffers, free them, allocate them again.
    Kept in the process, the pages are touched once; glibc's default returns them to the
    system each time (here 30,000 faults in five batches of these sizes, of 46,080 pages touched)."""
    import resource

    assert device.keep_freed_memory() == (platform.libc_ver()[0] == "glibc")
    if platform.libc_ver()[0] != "glibc":
        return

    def batch():
        buffers = [torch.empty(12 << 20, dtype=torch.uint8).fill_(1) for _ in range(3)]
        del buffers

    for _ in range(3):  # the heap settles into blocks of these sizes
        batch()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        batch()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    touched = 5 * 3 * (12 << 20) // resource.getpagesize()
    assert faults < touched / 4, f"{faults} page faults in five batches that touch {touched} pages"


def test_batch_and_chunk_sizes_adapt_to_the_device_and_the_input_size():
    mnist, imagenet = 28 * 28, 3 * 224 * 224
    cpu = device.engine_settings(ENGINE, CPU, mnist)
    gpu = device.engine_settings(ENGINE, CUDA, mnist)  # the settings only; nothing runs on CUDA
    assert (cpu["batch_size"], gpu["batch_size"]) == (256, 2048)
    assert cpu["chunk_size"] == gpu["chunk_size"] == 65536  # same chunks, so the same noise, on any device
    big_cpu = device.engine_settings(ENGINE, CPU, imagenet)["chunk_size"]
    big_gpu = device.engine_settings(ENGINE, CUDA, imagenet)["chunk_size"]
    assert big_cpu == 1024 and big_gpu == 4096  # powers of two within 256 MB / 1 GB of stored stimuli
    assert big_cpu * imagenet <= device.CHUNK_BYTES["cpu"] < 2 * big_cpu * imagenet
    fixed = device.engine_settings({**ENGINE, "batch_size": 100, "chunk_size": 5000}, CUDA, imagenet)
    assert (fixed["batch_size"], fixed["chunk_size"]) == (100, 5000) and ENGINE["batch_size"] == "auto"


def test_precision_auto_is_fp32_on_cpu_and_names_are_checked():
    assert device.precision("auto", CPU) == "fp32"
    with pytest.raises(ValueError, match="not supported"):
        device.precision("fp8", CPU)


@pytest.mark.parametrize("flags", [{"avx2", "fma"}, {"avx2", "avx512_bf16"}, {"amx_bf16", "amx_tile"}])
def test_bf16_on_a_cpu_without_native_bf16_is_never_silent(monkeypatch, caplog, flags):
    """bf16 is used as asked; on a CPU without native bf16 (emulated: slower than fp32) a warning
    says so; auto stays fp32 on every CPU."""
    monkeypatch.setattr(device, "cpu_flags", lambda: flags)
    native = bool(flags & {"avx512_bf16", "amx_bf16"})
    assert device.native_bf16(CPU) is native
    with caplog.at_level(logging.WARNING, logger="revcor.base.device"):
        assert device.precision("bf16", CPU) == "bf16"
        assert device.precision("auto", CPU) == device.precision("fp32", CPU) == "fp32"
    warned = [r.getMessage() for r in caplog.records]
    assert warned == ([] if native else [warned[0]]) and all("no native bf16" in w for w in warned)


def test_this_machines_cpu_flags_are_read():
    flags = device.cpu_flags()
    assert platform.system() != "Linux" or {"fpu", "sse2"} <= flags or platform.machine() != "x86_64"


def test_host_copies_round_trip_on_this_device():
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    dev = device.resolve("auto")
    on = device.to_device(t, dev)
    assert on.device.type == dev.type
    np.testing.assert_array_equal(device.to_host(on), t.numpy())
