"""Training and evaluation of the video models: recipe, resumable checkpoints, DDP, accuracy tables."""
from .checkpoint import EXPLAIN_CHECKPOINTS, explained_checkpoint_row, load_model, read_checkpoint, save_checkpoint
from .evaluation import accuracy_rows, evaluate_model, topk_correct, write_accuracy_csv
from .loop import TrainResult, checkpoint_folder, is_trained, train_model

__all__ = [
    "EXPLAIN_CHECKPOINTS", "TrainResult", "accuracy_rows", "checkpoint_folder", "evaluate_model",
    "explained_checkpoint_row", "load_model", "read_checkpoint",
    "is_trained", "save_checkpoint", "topk_correct", "train_model", "write_accuracy_csv",
]
