"""Real-world scripts: public PyTorch programs with their bugs kept, on synthetic data of the same shape."""
