"""The insurance-charges prediction service: a FastAPI app serving an ONNX model."""
