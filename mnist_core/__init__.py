"""MNIST Studio core: TensorFlow's "Quickstart for beginners" as a tested library.

Importing this package is cheap: TensorFlow is only imported by the modules that
need it (model, training, evaluate, store), so a UI can render before it loads.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU-only machines) is noise here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
