"""Numbers reported by Borji & Lin, for comparison in tables (never used to compute results)."""

# Template-classifier test accuracy (Sec. 3.1 and Fig. 2C, 3B), keyed by
# (dataset family, what the templates are).
TEMPLATE_ACCURACY = {
    ("mnist", "cnn bias maps"): 0.258,
    ("mnist", "logreg bias maps"): 0.476,
    ("mnist", "mean images"): 0.631,
    ("mnist", "logreg weights"): 0.838,
    ("cifar10", "cnn bias maps"): 0.2371,
    ("cifar10", "mean images"): 0.2869,
    ("mnist", "cnn bias maps, gabor noise"): 0.355,
    ("fashion-mnist", "cnn bias maps, gabor noise"): 0.4121,
    ("cifar10", "cnn bias maps, gabor noise"): 0.2167,
}

# Fraction of the ridge weights' variance kept by the Gabor-PCA components (Appendix A),
# per colour channel.
GABOR_EXPLAINED = {"mnist": [0.961], "fashion-mnist": [0.961], "cifar10": [0.9757, 0.9751, 0.9752]}

# Test accuracy of the trained classifiers (Sec. 3.1 and the authors' notebooks).
MODEL_ACCURACY = {
    ("mnist", "mnist_cnn"): 0.992,
    ("mnist", "logreg"): 0.9246,
    ("mnist", "rnn"): 0.964,
    ("fashion-mnist", "fashion_cnn"): 0.86,
    ("cifar10", "cifar_cnn"): 0.82,
}


def family(dataset: str) -> str:
    """The paper's dataset a (possibly subset or derived) dataset name compares with."""
    return "mnist" if dataset.startswith("mnist") else dataset
