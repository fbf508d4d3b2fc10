"""The export stage (`mlxmed export`): a trained run as a GGUF file (fused, quantized, proved
against MLX) or as a GGUF LoRA adapter for the base model's file."""

from mlxmed.export.run import QUANTS, ExportResult, base_gguf, export_run

__all__ = ["QUANTS", "ExportResult", "base_gguf", "export_run"]
