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

# Table 2 (Fig. 6C): fraction of stimuli classified as the target class, averaged over the
# 10 targets, for gamma = 0, 0.1, ..., 1 (MNIST CNN).
ATTACK_GAMMAS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
ATTACK = {
    "noise + bias": [0.1, 0.113, 0.127, 0.149, 0.174, 0.207, 0.271, 0.429, 0.666, 0.743, 0.9],
    "digit + bias": [0.1, 0.1, 0.1, 0.1, 0.101, 0.102, 0.105, 0.123, 0.214, 0.587, 0.9],
    "noise + mean": [0.1, 0.127, 0.179, 0.313, 0.618, 0.842, 0.986, 1.0, 1.0, 1.0, 1.0],
    "digit + mean": [0.1, 0.101, 0.103, 0.109, 0.149, 0.28, 0.534, 0.83, 0.994, 1.0, 1.0],
}

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
