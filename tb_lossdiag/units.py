"""Which activation modules the per-unit statistics count, and where their flat region starts (torch-free)."""

# A sigmoid output within 1% of 0 or 1, or a tanh output beyond +-0.99, sits on the flat part.
SATURATION = 0.99
# Which output units the per-unit statistics count, by module class.
UNIT_KINDS = {
    "ReLU": "relu", "ReLU6": "relu", "Threshold": "relu",
    "Sigmoid": "sigmoid", "Hardsigmoid": "sigmoid",
    "Tanh": "tanh", "Hardtanh": "tanh", "Softsign": "tanh",
}
