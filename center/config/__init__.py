"""config.toml: what a center is (model: frozen dataclasses) and how the file is read and validated (read)."""
