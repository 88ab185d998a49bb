"""Backdoor scan of one model against clean references."""

from revcor.base import device, logs
from revcor.pipeline import scan

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
inputs = {"maps": list(s.input.maps), "local": list(s.input.local), "models": list(s.input.models)}
result = scan.run(
    inputs | {"dataset": s.input.dataset},
    s.params.spec,
    s.output.json,
    s.output.arrays,
    device=device.resolve(s.params.device),
)
log.info(
    "%s: %s (p = %.3g), suspected target %s, location %s",
    s.wildcards.scan,
    result["verdict"],
    result["p_value"],
    result["target_class"],
    result["location"]["box"],
)
