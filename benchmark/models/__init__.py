"""Video models: the slow-only 3D ResNet ``baseline``, ``abn`` (spatial attention) and ``stabn`` (ST-ABN)."""
from .networks import MODELS, VideoAttentionNet, build_model, count_parameters, register_model
from .outputs import VideoModelOutput

__all__ = ["MODELS", "VideoAttentionNet", "VideoModelOutput", "build_model", "count_parameters", "register_model"]
