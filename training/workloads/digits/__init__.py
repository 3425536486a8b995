"""Digits: handwritten digit images (scikit-learn's bundled 8x8 set, or MNIST CSV files)."""
