"""The Loss Diagnostics TensorBoard plugin: backend routes and the built frontend bundle."""
