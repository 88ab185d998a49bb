"""Classification images of one experiment at every checkpoint."""
from revcor import device, experiment, logs

s = snakemake  # noqa: F821  (injected by Snakemake)
log = logs.setup(s.log[0])
experiment.write_maps(s.input.stats, s.output[0], model_path=s.input.model,
                      device=device.resolve(s.params.device))
log.info("wrote %s", s.output[0])
