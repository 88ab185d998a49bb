"""Classification images of one experiment at every checkpoint."""
from revcor import device, experiment, logs

s = snakemake  # noqa: F821  (injected by Snakemake)
log = logs.setup(s.log[0])
dev = device.resolve(s.params.device)
loaded = experiment.load_model(s.input.model, dev)
experiment.write_maps(s.input.stats, s.output[0], model=loaded.module, device=dev, input_shape=loaded.in_shape)
log.info("wrote %s", s.output[0])
