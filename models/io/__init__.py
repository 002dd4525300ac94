"""Files in and out: the checkpoint format (safetensors + JSON), its bounded header reader, the typed schema of
everything read from a file, atomic saves, the external formats a user brings (TorchScript, ONNX, diffusers
folders), images and sketches, and the exports a user takes elsewhere.

Every reader here is bounded before it allocates and checks types and ranges before a value is used; nothing
is unpickled.
"""
