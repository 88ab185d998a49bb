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


# Table 1 (Sec. 3.1): pretrained ImageNet backbones on 1M 32x32 Gabor-PCA noise samples (the
# generator fitted on CIFAR-10), bias maps as template classifiers of the 50,000 validation
# images (chance 0.001): accuracy, run time on one GPU in seconds (the paper prints m:ss) and
# empty classes (of 1000, no noise sample assigned). The paper's "vgg_19_bn" is vgg19_bn.
IMAGENET_TABLE = {
    "resnet152": {"accuracy": 0.00180, "run_time_s": 135, "empty_classes": 564},
    "resnet101": {"accuracy": 0.00152, "run_time_s": 96, "empty_classes": 539},
    "densenet201": {"accuracy": 0.00118, "run_time_s": 132, "empty_classes": 998},
    "squeezenet1_1": {"accuracy": 0.00104, "run_time_s": 13, "empty_classes": 999},
    "googlenet": {"accuracy": 0.00102, "run_time_s": 26, "empty_classes": 999},
    "mnasnet1_3": {"accuracy": 0.00082, "run_time_s": 32, "empty_classes": 922},
    "vgg19_bn": {"accuracy": 0.00074, "run_time_s": 111, "empty_classes": 994},
}
