"""The model compiler: capture a PyTorch model into a graph IR, fold and fuse, quantise to fixed point,
plan memory and emit C (SeeDot's role in the RNNPool pipeline)."""
