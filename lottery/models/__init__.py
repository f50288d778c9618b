"""Model zoo: `create_model(name, ...)` builds a registered network exposing the prunable-channel API.

Every model has `prunable_bns()`, `channel_spec()`, `current_arch()` and an `arch` dict;
`create_model(**model.current_arch())` rebuilds the (pruned) architecture from scratch.
"""
from lottery.models.base import MODELS, PrunableNet, create_model
from lottery.models import resnet as _resnet  # noqa: F401  (registers resnet*)
from lottery.models import vgg as _vgg  # noqa: F401  (registers vgg*)
from lottery.models import supernet as _supernet  # noqa: F401  (registers supernet*)
from lottery.models.resnet import BasicBlock, CifarResNet
from lottery.models.vgg import VGG

__all__ = ["MODELS", "PrunableNet", "create_model", "VGG", "CifarResNet", "BasicBlock"]
