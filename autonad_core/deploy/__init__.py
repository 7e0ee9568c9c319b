"""Using a designed model: sliding-window inference, prediction on image files, TorchScript/ONNX export.

Modules are imported directly (``autonad_core.deploy.predict``); this file imports nothing so that
search and evaluation can use ``deploy.inference`` without loading the export machinery.
"""
