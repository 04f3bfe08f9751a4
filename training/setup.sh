#!/bin/sh
# Installs the Python toolchain used to train and export the shipped models.
# PyPI is not reachable from the build machines, so everything comes from Debian.
set -eu
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
  python3 python3-torch python3-onnx python3-numpy python3-pil
/usr/bin/python3 -c "import torch, onnx, numpy, PIL; print('torch', torch.__version__, 'onnx', onnx.__version__, 'numpy', numpy.__version__)"
