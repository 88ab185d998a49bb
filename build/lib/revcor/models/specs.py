"""Model entries as the config describes them, without loading torch: the kinds of model a user
can give, the files an entry reads, the architecture prefixes and the names of the pretrained
backbones. The workflow plans its rules from these; the modules that build models use them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from revcor.base.errors import RevcorError


class ModelError(RevcorError, ValueError):
    """A model cannot be built, loaded, saved or used as asked; the message says why."""


KINDS = ("file", "factory", "torchvision", "timm")  # the kinds of model a user gives (``arch``: trained here)
TORCHVISION = "torchvision:"  # arch prefix of any torchvision classification architecture
TIMM = "timm:"  # arch prefix of any timm architecture
FACTORY = "factory:"  # arch prefix of a user's package.module:function
BACKBONES = ("resnet152", "resnet101", "densenet201", "squeezenet1_1", "googlenet", "mnasnet1_3", "vgg19_bn")
DEFAULT_WEIGHTS = "DEFAULT"  # torchvision's name of an architecture's best published weights
NO_WEIGHTS = "none"  # the `weights` setting for randomly initialised backbones


def kind_of(settings: Mapping[str, Any]) -> str | None:
    """``file``, ``factory`` or ``torchvision`` for a given model's entry; None for a model
    trained here (``arch``)."""
    found = [k for k in KINDS if settings.get(k)]
    if len(found) > 1 or (found and settings.get("arch")):
        raise ModelError(f"a model is one of arch (trained here), {', '.join(KINDS)}; got {', '.join(found)}")
    return found[0] if found else None


def files_of(settings: Mapping[str, Any]) -> list[str]:
    """The user's files a given model is read from (so that editing them rebuilds it)."""
    named = settings.get("torchvision") or settings.get("timm")
    return [settings[k] for k in ("file", "state_dict") if settings.get(k)] + (
        [settings["weights"]] if named and Path(str(settings.get("weights"))).is_file() else []
    )
