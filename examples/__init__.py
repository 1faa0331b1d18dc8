"""The four MLPerf Tiny reference architectures as PyTorch modules, each with `build() -> hil.catalog.ModelSpec`:
kws_dscnn (keyword spotting, DS-CNN), vww (visual wake words, MobileNetV1 0.25), resnet8 (image classification)
and autoencoder (anomaly detection). Weights are random from a fixed seed, with BatchNorm statistics measured on
the generated calibration data (see _weights.py): the architectures, shapes and arithmetic are the references',
the accuracies are not."""
