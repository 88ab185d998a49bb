"""ONNX models, run with onnxruntime: forward passes only (no layers to hook, no gradients).
Reading one needs the ``onnx`` package too (``pip install onnx onnxruntime``), which brings
weights kept in a side file (as ``torch.onnx.export`` writes them) into the model's bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from revcor.models.specs import ModelError


def is_onnx(path: Path) -> bool:
    """Whether ``path`` holds an ONNX model: a ``.onnx`` file, or a protobuf that starts with
    the ``ir_version`` field as every exporter writes it."""
    if path.suffix.lower() == ".onnx":
        return True
    with open(path, "rb") as f:
        return f.read(1) == b"\x08"


class OnnxModule(nn.Module):
    """An ONNX model as a module taking (N, C, H, W) float tensors. It runs on the CPU through
    onnxruntime with torch's thread count; its outputs come back on the input's device, as a
    tensor or, for several outputs, a tuple."""

    def __init__(self, data: bytes, source: str):
        super().__init__()
        try:
            import onnxruntime
        except ImportError:
            raise ModelError(f"{source} is an ONNX model, which needs onnxruntime: pip install onnxruntime") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.log_severity_level = 3  # errors only
        try:
            self.session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except (onnxruntime.capi.onnxruntime_pybind11_state.Fail, RuntimeError) as e:
            raise ModelError(f"onnxruntime cannot load {source}: {str(e).splitlines()[0]}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"ONNX model {source} takes {len(inputs)} inputs; expected one image batch")
        self.input, shape = inputs[0].name, inputs[0].shape
        if len(shape) != 4:
            raise ModelError(f"ONNX model {source} takes inputs of shape {shape}; expected (N, C, H, W)")
        if isinstance(shape[0], int) and shape[0] >= 1:
            raise ModelError(
                f"ONNX model {source} was exported with a fixed batch size of {shape[0]}; export it with "
                "dynamic_axes={'input': {0: 'batch'}} (torch.onnx.export)"
            )
        dims = shape[1:]
        self.in_shape = tuple(dims) if all(isinstance(d, int) for d in dims) else None
        self.data, self.source = data, source

    def __deepcopy__(self, memo: dict) -> OnnxModule:
        return OnnxModule(self.data, self.source)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        feed = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        out = [torch.from_numpy(o).to(x.device) for o in self.session.run(None, {self.input: feed})]
        return out[0] if len(out) == 1 else tuple(out)


def load(path: Path, data: bytes | None = None) -> OnnxModule:
    """The ONNX model of the file ``path`` (or of ``data``, its bytes from :func:`read`)."""
    return OnnxModule(read(path) if data is None else data, f"ONNX model {path}")


def read(path: Path) -> bytes:
    """The bytes of the ONNX model in ``path``, with any external data (weights in side files)
    inlined, so that the model travels as one blob."""
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        raise ModelError(
            f"{path} is an ONNX model, which needs onnx and onnxruntime: pip install onnx onnxruntime"
        ) from None
    try:
        return onnx.load(str(path), load_external_data=True).SerializeToString()
    except (DecodeError, OSError, ValueError) as e:
        raise ModelError(
            f"cannot read ONNX model {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
