"""Export stage: a model file becomes artefacts a target can build (generated C, MicroPython files)."""
