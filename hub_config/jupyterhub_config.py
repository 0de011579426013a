# JupyterHub configuration for xuefa. Deliberately thin (like TLJH's): all logic lives in
# hub_config.config; this file only applies it. `xuefa up` points jupyterhub at this file.
# Operators' own settings go in DATA/jupyterhub_config.d/*.py, run after the packaged ones.
from hub_config.config import apply_config, load_operator_config

load_operator_config(c, apply_config(c))  # noqa: F821 - `c` is injected by JupyterHub
