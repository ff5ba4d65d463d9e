"""Video models: the slow-only 3D ResNet ``baseline``, ``abn`` (spatial attention) and ``stabn`` (ST-ABN)."""
from .networks import GRADCAM_LAYERS, MODELS, VideoAttentionNet, build_model, count_parameters, register_model
from .outputs import VideoModelOutput

__all__ = ["GRADCAM_LAYERS", "MODELS", "VideoAttentionNet", "VideoModelOutput", "build_model", "count_parameters",
           "register_model"]
